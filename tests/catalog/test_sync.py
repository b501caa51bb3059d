import math
import threading
from datetime import date, timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog import musicbrainz, sync
from musicdrops.catalog.models import Artist, DatePrecision, Follow, ReleaseGroup
from tests.catalog.upstream import OLAFUR_ARNALDS, fixture_mbid, garbage, many_release_groups, release_group

pytestmark = pytest.mark.django_db(transaction=True)


def followed_artist(mbid: str, name: str = "Artist") -> Artist:
    artist = Artist.objects.create(mbid=mbid, name=name)
    user = User.objects.get_or_create(email="fan@example.com")[0]
    Follow.objects.create(user=user, artist=artist)
    return artist


def test_partial_dates_types_and_unicode_are_kept(upstream):
    mbid = fixture_mbid("artist", "Dates")
    upstream.set_release_groups(
        mbid,
        [
            release_group("Day", date="2024-03-15"),
            release_group("Month", date="2024-03", primary_type="EP"),
            release_group("Year", date="2024", primary_type="Single"),
            release_group("Unknown", date="", primary_type=None),
            release_group("Ágætis byrjun · 坂本", date="1999-06-12", secondary_types=["Live"]),
        ],
    )
    artist = followed_artist(mbid)

    sync.artist_sync(artist_id=artist.pk, client=musicbrainz.default_client())

    rows = {rg.title: rg for rg in ReleaseGroup.objects.all()}
    assert (rows["Day"].first_release_date, rows["Day"].date_precision) == (date(2024, 3, 15), DatePrecision.DAY)
    assert (rows["Month"].first_release_date, rows["Month"].date_precision) == (date(2024, 3, 1), "month")
    assert rows["Month"].release_date_display == "March 2024"
    assert rows["Year"].release_date_display == "2024"
    assert rows["Unknown"].first_release_date is None
    assert rows["Unknown"].kind == "other"
    assert rows["Ágætis byrjun · 坂本"].kind == "live"
    assert rows["Month"].kind == "ep"
    artist.refresh_from_db()
    assert artist.synced_at is not None
    assert artist.sync_leased_until is None


def test_a_second_sync_updates_in_place_and_keeps_first_seen(upstream):
    mbid = fixture_mbid("artist", "Resync")
    upstream.set_release_groups(mbid, [release_group("Old title", mbid=fixture_mbid("rg", "1"), date="2020")])
    artist = followed_artist(mbid)
    sync.artist_sync(artist_id=artist.pk, client=musicbrainz.default_client())
    first_seen = ReleaseGroup.objects.get().first_seen_at

    upstream.set_release_groups(mbid, [release_group("New title", mbid=fixture_mbid("rg", "1"), date="2020-05-01")])
    result = sync.artist_sync(artist_id=artist.pk, client=musicbrainz.default_client())

    row = ReleaseGroup.objects.get()
    assert (row.title, row.first_release_date, row.first_seen_at) == ("New title", date(2020, 5, 1), first_seen)
    assert result is not None
    assert (result.created, result.updated) == (0, 1)


def test_deleted_upstream_is_marked_removed_and_merged_keeps_our_row(upstream):
    mbid = fixture_mbid("artist", "Merges")
    keep = release_group("Kept", mbid=fixture_mbid("rg", "kept"), date="2021-01-01")
    doomed = release_group("Deleted", mbid=fixture_mbid("rg", "deleted"), date="2021-02-01")
    before_merge = release_group("Merged Record", mbid=fixture_mbid("rg", "old"), date="2021-03-01")
    upstream.set_release_groups(mbid, [keep, doomed, before_merge])
    artist = followed_artist(mbid)
    sync.artist_sync(artist_id=artist.pk, client=musicbrainz.default_client())
    merged_pk = ReleaseGroup.objects.get(title="Merged Record").pk

    after_merge = release_group("merged  record", mbid=fixture_mbid("rg", "new"), date="2021-03-01")
    upstream.set_release_groups(mbid, [keep, after_merge])
    result = sync.artist_sync(artist_id=artist.pk, client=musicbrainz.default_client())

    assert result is not None
    assert (result.merged, result.removed) == (1, 1)
    merged = ReleaseGroup.objects.get(pk=merged_pk)
    assert str(merged.mbid) == fixture_mbid("rg", "new")
    assert merged.removed_at is None
    assert ReleaseGroup.objects.get(title="Deleted").removed_at is not None
    assert ReleaseGroup.objects.count() == 3


def test_a_collaboration_belongs_to_both_artists_and_survives_one_unlinking(upstream):
    shared = release_group("Together", mbid=fixture_mbid("rg", "collab"), date="2022")
    first, second = upstream.add_artist("First"), upstream.add_artist("Second")
    upstream.set_release_groups(first, [shared])
    upstream.set_release_groups(second, [shared])
    a, b = followed_artist(first, "First"), followed_artist(second, "Second")
    for artist in (a, b):
        sync.artist_sync(artist_id=artist.pk, client=musicbrainz.default_client())
    assert set(ReleaseGroup.objects.get().artists.values_list("name", flat=True)) == {"First", "Second"}

    upstream.set_release_groups(first, [])
    sync.artist_sync(artist_id=a.pk, client=musicbrainz.default_client())

    row = ReleaseGroup.objects.get()
    assert list(row.artists.values_list("name", flat=True)) == ["Second"]
    assert row.removed_at is None


def test_a_leased_artist_is_not_fetched_again(upstream):
    artist = followed_artist(OLAFUR_ARNALDS)
    assert sync.artist_claim(artist_id=artist.pk)

    assert sync.artist_sync(artist_id=artist.pk, client=musicbrainz.default_client()) is None
    assert upstream.requests_to("/ws/2/release-group") == []


def test_garbage_upstream_leaves_the_catalog_alone_and_backs_off(upstream):
    artist = followed_artist(OLAFUR_ARNALDS)
    upstream.always(OLAFUR_ARNALDS, garbage())
    quick = musicbrainz.MusicBrainzClient(
        base_url=upstream.musicbrainz_url,
        user_agent="MusicDrops-tests/1 ( test@example.com )",
        rate_limiter=musicbrainz.default_client().rate_limiter,
        sleep=lambda seconds: None,
    )

    figures = sync.stale_artists_sync(client=quick, seconds=30)

    assert figures["failed"] == 1
    assert ReleaseGroup.objects.count() == 0
    artist.refresh_from_db()
    assert artist.synced_at is None
    assert artist.sync_leased_until is not None
    assert artist.sync_leased_until > timezone.now() + timedelta(minutes=50)
    assert sync.stale_artist_ids(limit=10) == []


def test_stale_first_and_fresh_artists_are_left_alone(upstream):
    now = timezone.now()
    never = followed_artist(fixture_mbid("artist", "never"))
    old = followed_artist(fixture_mbid("artist", "old"))
    fresh = followed_artist(fixture_mbid("artist", "fresh"))
    Artist.objects.filter(pk=old.pk).update(synced_at=now - timedelta(days=2))
    Artist.objects.filter(pk=fresh.pk).update(synced_at=now - timedelta(hours=1))
    Artist.objects.create(mbid=fixture_mbid("artist", "nobody follows"), name="unfollowed")

    assert sync.stale_artist_ids(limit=10) == [never.pk, old.pk]


def test_two_concurrent_syncs_fetch_every_artist_exactly_once(upstream):
    artists = [followed_artist(fixture_mbid("artist", f"c{n}"), f"Artist {n}") for n in range(30)]
    for n, artist in enumerate(artists):
        upstream.set_release_groups(str(artist.mbid), many_release_groups(n % 3, seed=f"c{n}"))
    figures = []

    def run() -> None:
        try:
            figures.append(sync.stale_artists_sync(client=musicbrainz.default_client(), seconds=30))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    browsed = [r.param("artist") for r in upstream.requests_to("/ws/2/release-group") if r.param("artist")]
    assert sorted(browsed) == sorted(str(a.mbid) for a in artists)
    assert sum(f["synced"] for f in figures) == 30
    assert not Artist.objects.filter(synced_at__isnull=True).exists()


def test_syncing_many_artists_makes_only_the_requests_the_pages_need_and_constant_queries(upstream):
    sizes = [0, 1, 99, 100, 101, 250] * 5
    artists = []
    for n, size in enumerate(sizes):
        mbid = fixture_mbid("artist", f"bulk{n}")
        upstream.set_release_groups(mbid, many_release_groups(size, seed=f"bulk{n}"))
        artists.append(followed_artist(mbid, f"Bulk {n}"))
    client = musicbrainz.default_client()

    per_artist_queries = []
    for artist in artists:
        with CaptureQueriesContext(connection) as queries:
            sync.artist_sync(artist_id=artist.pk, client=client)
        per_artist_queries.append(len(queries))

    # One lookup (the artist's name) and the pages of release groups.
    assert client.requests_made == sum(1 + max(1, math.ceil(size / 100)) for size in sizes)
    # Bulk writes: the number of queries doesn't grow with the number of release groups.
    assert max(per_artist_queries) <= 12, per_artist_queries
    assert ReleaseGroup.objects.count() == sum(sizes)


def test_every_sync_takes_name_sort_name_and_disambiguation_from_musicbrainz(upstream):
    mbid = upstream.add_artist("Ólafur Arnalds", sort_name="Arnalds, Ólafur", disambiguation="Icelandic composer")
    upstream.set_release_groups(mbid, [])
    artist = followed_artist(mbid, "Olafur - claim your prize at https://evil.example/")

    sync.artist_sync(artist_id=artist.pk, client=musicbrainz.default_client())

    artist.refresh_from_db()
    assert (artist.name, artist.sort_name, artist.disambiguation) == (
        "Ólafur Arnalds",
        "Arnalds, Ólafur",
        "Icelandic composer",
    )


def test_hostile_upstream_text_is_cleaned_where_it_enters_and_every_page_shows_it_cleanly(client, upstream):
    from django.urls import reverse

    from tests.hostile import FORBIDDEN, HOSTILE_TITLE, ZERO_WIDTH_RUN

    today = f"{timezone.localdate():%Y-%m-%d}"
    mbid = upstream.add_artist("Sigur\x1bRós\u200b\u200b\u200b", sort_name="x" * 900)
    # NUL and all: JSON carries it escaped (the replay server cannot send a lone surrogate, though).
    upstream.set_release_groups(mbid, [release_group(HOSTILE_TITLE.replace("\ud800", "") + "y" * 2000, date=today)])
    artist = followed_artist(mbid)
    client.force_login(User.objects.get(email="fan@example.com"))
    User.objects.filter(email="fan@example.com").update(email_verified_at=timezone.now())

    sync.artist_sync(artist_id=artist.pk, client=musicbrainz.default_client())

    artist.refresh_from_db()
    assert (artist.name, len(artist.sort_name)) == ("SigurRós\u200b", 500)
    title = ReleaseGroup.objects.get().title
    assert title.startswith("Bad\u200bTitle\u200d end")
    assert len(title) == 1000
    for page in ("front:dashboard", "catalog:library", "drops:today", "drops:today_email"):
        body = client.get(reverse(page)).content.decode()
        assert "Bad\u200bTitle" in body or page in {"catalog:library", "drops:today"}, page
        assert not FORBIDDEN.search(body.replace("\n", "").replace("\t", "")), page
        assert not ZERO_WIDTH_RUN.search(body), page
