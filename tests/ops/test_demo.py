"""seed_demo: a catalogue as rich as the README's pictures, made up and offline, that the catalog never syncs."""

import datetime as dt
import time
import uuid
from collections import Counter

import pytest
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog import discovery, sync
from musicdrops.catalog.models import Artist, Follow, ImportJob, ReleaseGroup
from musicdrops.ops.demo import CATALOG, TIME_ZONES, demo_email, demo_seed

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 6, 1)
DEMO = "demo@example.com"


def seed(users: int = 10, today: dt.date = DAY) -> int:
    return demo_seed(users=users, demo_email_address=DEMO, demo_password="pw-demo-1234", today=today)


def test_the_demo_login_follows_most_of_a_rich_made_up_catalogue():
    seed()
    demo = User.objects.get(email=DEMO)
    artists = Artist.objects.filter(name__in=[row[0] for row in CATALOG])

    assert artists.count() == len(CATALOG) >= 30
    assert len(CATALOG) - 5 <= Follow.objects.filter(user=demo, artist__in=artists).count() < len(CATALOG)
    assert Counter(a.name for a in artists)["The Paper Lanterns"] == 2  # told apart by their disambiguations
    assert {a.artist_type for a in artists} >= {"Person", "Group", "Orchestra", "Choir", "Character"}
    assert all(a.where and a.years for a in artists if a.artist_type != "Character")
    releases = ReleaseGroup.objects.filter(artists__in=artists)
    assert set(releases.values_list("kind", flat=True)) == {
        "album", "ep", "single", "live", "compilation", "remix", "other",
    }  # fmt: skip
    dates = {date for date in releases.values_list("first_release_date", flat=True) if date}
    assert min(dates) < DAY - dt.timedelta(days=365)
    assert DAY in dates
    assert max(dates) > DAY
    assert set(releases.values_list("date_precision", flat=True)) == {"day", "month", "year"}
    per_artist = Counter(releases.values_list("artists", flat=True))
    assert sum(count > 100 for count in per_artist.values()) >= 2  # several pages of 50 on the artist's page
    assert ImportJob.objects.get(user=demo).outcome["ambiguous"]  # the import that asks which artist was meant


def test_made_up_artists_are_version_5_and_never_asked_about(django_user_model):
    seed()
    Artist.objects.update(synced_at=timezone.now() - dt.timedelta(days=30), browse_wanted_at=timezone.now())
    made_up = set(Artist.objects.values_list("pk", flat=True))
    assert {uuid.UUID(str(m)).version for m in Artist.objects.values_list("mbid", flat=True)} == {5}
    real = Artist.objects.create(mbid=str(uuid.uuid4()), name="Sigur Rós")
    Follow.objects.create(user=User.objects.get(email=DEMO), artist=real)

    assert sync.stale_artist_ids(limit=1000) == [real.pk]
    assert sync.urgent_artist_ids(limit=1000) == [real.pk]
    for window in (discovery.NEAR, discovery.FAR):
        claimed = discovery.batch_claim(window=window, now=timezone.now(), limit=1000)
        assert not set(claimed.values()) & made_up


def test_a_refresh_of_made_up_artists_asks_nobody_and_finds_them_up_to_date():
    seed()
    demo = User.objects.get(email=DEMO)

    class Nobody:
        requests_made = 0

        def __getattr__(self, name: str) -> object:
            pytest.fail(f"MusicBrainz asked ({name}) about a made-up artist")

    result = sync.library_refresh(user_id=demo.pk, client=Nobody(), seconds=5)  # type: ignore[arg-type]

    assert result.total == result.fresh == Follow.objects.filter(user=demo).count()


def test_idempotent_and_a_later_day_moves_the_catalogue_along_without_duplicates():
    seed()
    counts = (User.objects.count(), Artist.objects.count(), Follow.objects.count(), ImportJob.objects.count())
    releases = ReleaseGroup.objects.count()

    assert seed() == 0
    assert (User.objects.count(), Artist.objects.count(), Follow.objects.count(), ImportJob.objects.count()) == counts
    assert ReleaseGroup.objects.count() == releases
    seed(today=DAY + dt.timedelta(days=1))
    # Only the numbered listeners' release of the new day is new; the catalogue's dates move with the day.
    assert ReleaseGroup.objects.count() == releases + Artist.objects.filter(name__startswith="Demo Artist ").count()
    assert ReleaseGroup.objects.filter(title="Small Hours").get().first_release_date == DAY + dt.timedelta(days=1)


def test_the_numbered_listeners_stay_as_they_were():
    seed(users=20)
    listener = User.objects.get(email=demo_email(3))

    assert listener.time_zone == TIME_ZONES[2]
    names = set(Follow.objects.filter(user=listener).values_list("artist__name", flat=True))
    assert names
    assert all(name.startswith("Demo Artist ") for name in names)
    assert all(ReleaseGroup.objects.filter(artists__name=name, first_release_date=DAY).exists() for name in names)


def test_20000_listeners_well_under_a_minute():
    started = time.monotonic()
    seed(users=20_000)
    assert time.monotonic() - started < 30
    assert User.objects.count() == 20_001
