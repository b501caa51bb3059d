"""Batched discovery against the replay server over real HTTP: what a search finds, what it leaves to the browse."""

import datetime as dt
import math

import pytest
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog import discovery, musicbrainz, sync
from musicdrops.catalog.models import Artist, Follow, ReleaseGroup
from musicdrops.drops.fanout import new_releases
from musicdrops.drops.models import DeliveredRelease, Delivery
from tests.catalog.upstream import (
    RecordedRequest,
    Reply,
    UpstreamServer,
    fixture_mbid,
    garbage,
    many_release_groups,
    release_group,
)

pytestmark = pytest.mark.django_db(transaction=True)

SEARCH = "release-group-search"


def today() -> dt.date:
    return timezone.now().date()


def followed_synced(upstream: UpstreamServer, count: int, *, back_catalogue: int = 3) -> list[Artist]:
    """``count`` followed artists whose first browse is done, each with an old back catalogue upstream and here."""
    fan = User.objects.get_or_create(email="fan@example.com", defaults={"email_verified_at": timezone.now()})[0]
    mbids = [fixture_mbid("discovery", str(n)) for n in range(count)]
    for n, mbid in enumerate(mbids):
        upstream.set_release_groups(mbid, many_release_groups(back_catalogue, seed=f"old-{n}"), indexed=True)
    artists = Artist.objects.bulk_create(
        [
            Artist(mbid=m, name=f"Artist {n}", synced_at=timezone.now() - dt.timedelta(days=1))
            for n, m in enumerate(mbids)
        ]
    )
    Follow.objects.bulk_create([Follow(user=fan, artist=a) for a in artists])
    return artists


def discover(at: dt.datetime | None = None) -> discovery.DiscoveryFigures:
    moment = at or timezone.now()
    return discovery.releases_discover(client=musicbrainz.default_client(), keep_going=lambda: True, now=lambda: moment)


def searches(upstream: UpstreamServer) -> list[RecordedRequest]:
    return upstream.requests_to("/ws/2/release-group", subject=SEARCH)


def test_new_releases_of_10_in_1000_artists_are_found_with_a_handful_of_requests(upstream):
    artists = followed_synced(upstream, 1000)
    first = discover()
    per_search = discovery.batch_size(client=musicbrainz.default_client(), window=discovery.NEAR, today=today())
    assert first.artists == 2000  # every artist once in each window
    upstream.requests.clear()

    chosen = artists[::100]
    for n, artist in enumerate(chosen):
        upstream.set_release_groups(
            str(artist.mbid),
            [*upstream.release_groups[str(artist.mbid)], release_group(f"New {n}", date=today().isoformat())],
        )
    # An hour later (the near window's interval), the next pass:
    figures = discover(timezone.now() + dt.timedelta(seconds=3601))

    assert figures.created == 10
    new = ReleaseGroup.objects.filter(title__startswith="New ")
    assert {a.pk for rg in new for a in rg.artists.all()} == {a.pk for a in chosen}
    # The far window is not due for a day; the near one needs ceil(1000 / per_search) searches.
    assert len(searches(upstream)) == math.ceil(1000 / per_search) <= 11
    assert per_search >= 90
    # At 1 request/s that is 11 seconds of MusicBrainz's time, and every request is a search.
    assert len(upstream.requests) == len(searches(upstream))


def test_a_back_catalogue_is_never_announced_and_new_releases_are(upstream):
    fan = User.objects.create(email="fan@example.com", email_verified_at=timezone.now())
    mbid = fixture_mbid("artist", "catalogue")
    upstream.set_release_groups(
        mbid,
        [
            *many_release_groups(250, seed="catalogue"),
            release_group("This month, no day", date=today().strftime("%Y-%m")),
            release_group("This year", date=str(today().year)),
        ],
        indexed=True,
    )
    artist = Artist.objects.create(mbid=mbid, name="Catalogue")
    Follow.objects.create(user=fan, artist=artist)

    sync.stale_artists_sync(client=musicbrainz.default_client(), seconds=30)  # the first browse, then the searches

    assert ReleaseGroup.objects.count() == 252
    assert new_releases(user_ids=[fan.pk], day=today()) == {}
    upstream.set_release_groups(
        mbid, [*upstream.release_groups[mbid], release_group("Out today", date=today().isoformat())]
    )
    discover(timezone.now() + dt.timedelta(hours=2))
    assert [ReleaseGroup.objects.get(pk=pk).title for pk in new_releases(user_ids=[fan.pk], day=today())[fan.pk]] == [
        "Out today"
    ]


def test_a_group_merged_upstream_is_not_announced_twice(upstream):
    (artist,) = followed_synced(upstream, 1, back_catalogue=0)
    fan = User.objects.get()
    mbid = str(artist.mbid)
    old = release_group("Twice", mbid=fixture_mbid("rg", "old"), date=today().isoformat())
    upstream.set_release_groups(mbid, [old])
    discover()
    row = ReleaseGroup.objects.get()
    now = timezone.now()
    delivery = Delivery.objects.create(user=fan, slot=now, day=today(), period=today().isoformat(), lease_until=now)
    DeliveredRelease.objects.create(user=fan, release_group=row, delivery=delivery)  # the email went out

    merged = release_group("Twice", mbid=fixture_mbid("rg", "merged-into"), date=today().isoformat())
    upstream.set_release_groups(mbid, [merged])
    Artist.objects.filter(pk=artist.pk).update(synced_at=timezone.now() - dt.timedelta(days=1))
    figures = discover(timezone.now() + dt.timedelta(hours=2))

    assert figures.created == 0
    assert figures.browse_wanted == 1
    assert ReleaseGroup.objects.count() == 1
    sync.stale_artists_sync(client=musicbrainz.default_client(), seconds=30)
    row.refresh_from_db()
    assert str(row.mbid) == merged["id"]  # our row took the new id, and with it its history
    assert new_releases(user_ids=[fan.pk], day=today()) == {}
    assert Artist.objects.get().browse_wanted_at is None


def test_a_broken_page_keeps_the_other_pages_and_the_batch_comes_back(upstream, settings):
    (artist,) = followed_synced(upstream, 1, back_catalogue=0)
    mbid = str(artist.mbid)
    groups = [
        release_group(
            f"Day {n}", mbid=fixture_mbid("rg", str(n)), date=(today() + dt.timedelta(days=n % 30)).isoformat()
        )
        for n in range(250)
    ]
    upstream.set_release_groups(mbid, groups)
    # The first page answers; the second is garbage every time the client asks (5 attempts).
    upstream.script(SEARCH, Reply(), *[garbage()] * 5)

    quick = musicbrainz.default_client()
    quick._sleep = lambda seconds: None  # the client's retry back-off, not the behaviour under test
    figures = discovery.releases_discover(client=quick, keep_going=lambda: True)

    assert figures.failed == 1
    assert figures.searches == 0
    assert ReleaseGroup.objects.count() == 100  # page one is kept
    artist.refresh_from_db()
    assert artist.searched_at is None
    assert artist.search_due_at is not None
    assert artist.search_due_at > timezone.now()  # still claimed: nobody repeats it at once

    figures = discover(timezone.now() + discovery.SEARCH_LEASE + dt.timedelta(seconds=1))
    assert figures.searches == 2  # near and far
    assert ReleaseGroup.objects.count() == 250


def test_a_collaboration_is_linked_to_every_followed_artist_in_its_credit(upstream):
    a, b = followed_synced(upstream, 2, back_catalogue=0)
    stranger = fixture_mbid("artist", "not followed")
    split = release_group("Split", date=today().isoformat())
    for mbid in (str(a.mbid), str(b.mbid), stranger):
        upstream.set_release_groups(mbid, [split])
    only_theirs = release_group("Only theirs", date=today().isoformat())
    upstream.set_release_groups(stranger, [split, only_theirs])
    various = release_group(
        "Compilation",
        date=today().isoformat(),
        mbid=fixture_mbid("rg", "va"),
    )
    various["artist-credit"] = [
        {
            "name": "Various Artists",
            "artist": {"id": "89ad4ac3-39f7-470e-963a-56509c546377", "name": "Various Artists"},
        },
        {"name": "Artist 0", "artist": {"id": str(a.mbid), "name": "Artist 0"}},
    ]
    upstream.set_release_groups(str(a.mbid), [split, various])

    discover()

    row = ReleaseGroup.objects.get(title="Split")
    assert {x.pk for x in row.artists.all()} == {a.pk, b.pk}
    assert not ReleaseGroup.objects.filter(title="Only theirs").exists()  # nobody here follows its artist
    assert [x.pk for x in ReleaseGroup.objects.get(title="Compilation").artists.all()] == [a.pk]
    assert not Artist.objects.filter(mbid=stranger).exists()


def test_a_query_too_long_for_the_front_end_is_split(upstream, settings):
    followed_synced(upstream, 100, back_catalogue=0)
    upstream.max_request_line = 2500  # a stricter front end than the client plans for

    figures = discover()

    assert figures.searches >= 4
    assert figures.artists == 200
    assert len(searches(upstream)) > figures.searches  # the refused ones, before each split
    assert Artist.objects.filter(searched_at__isnull=True).count() == 0


def test_dates_moving_into_and_out_of_the_window(upstream):
    (artist,) = followed_synced(upstream, 1, back_catalogue=0)
    fan = User.objects.get()
    mbid = str(artist.mbid)
    later = release_group("Postponed", mbid=fixture_mbid("rg", "p"), date=(today() + dt.timedelta(days=5)).isoformat())
    coming = release_group("Brought forward", mbid=fixture_mbid("rg", "f"), date="2027-09-01")
    upstream.set_release_groups(mbid, [later, coming])
    discover()
    assert ReleaseGroup.objects.count() == 2  # one from each window

    # "Postponed" leaves the near window for 2019 (corrected); "Brought forward" moves to today.
    upstream.set_release_groups(
        mbid, [{**later, "first-release-date": "2019-05-01"}, {**coming, "first-release-date": today().isoformat()}]
    )
    figures = discover(timezone.now() + dt.timedelta(hours=2))

    assert ReleaseGroup.objects.get(title="Brought forward").first_release_date == today()
    assert figures.browse_wanted == 1  # we hold "Postponed" in the window and the search no longer has it
    sync.stale_artists_sync(client=musicbrainz.default_client(), seconds=30)
    assert ReleaseGroup.objects.get(title="Postponed").first_release_date == dt.date(2019, 5, 1)
    announced = new_releases(user_ids=[fan.pk], day=today())[fan.pk]
    assert [ReleaseGroup.objects.get(pk=pk).title for pk in announced] == ["Brought forward"]


def test_odd_data_in_the_answers(upstream):
    (artist,) = followed_synced(upstream, 1, back_catalogue=0)
    mbid = str(artist.mbid)
    no_credit = release_group("No credit", date=today().isoformat())
    no_credit["artist-credit"] = []
    bad_id = release_group("Bad id", date=today().isoformat())
    bad_id["id"] = "not-a-uuid"
    upstream.set_release_groups(
        mbid,
        [
            release_group("Undated", date=""),  # the index has no date to match: never in a window
            release_group("Month only", date=today().strftime("%Y-%m")),
            no_credit,
            bad_id,
            release_group("Fine", date=today().isoformat(), primary_type=None, secondary_types=["Live"]),
        ],
    )

    figures = discover()

    assert figures.failed == 0
    assert sorted(ReleaseGroup.objects.values_list("title", flat=True)) == ["Fine", "Month only"]
    assert ReleaseGroup.objects.get(title="Fine").kind == "live"


def test_the_search_index_lagging_a_new_group_finds_it_later(upstream):
    (artist,) = followed_synced(upstream, 1, back_catalogue=0)
    upstream.search_lag = 3600
    upstream.set_release_groups(str(artist.mbid), [release_group("Fresh", date=today().isoformat())])
    discover()
    assert not ReleaseGroup.objects.exists()
    upstream.search_lag = 0
    upstream._indexed_at.clear()  # the index caught up
    discover(timezone.now() + dt.timedelta(hours=1, seconds=1))
    assert ReleaseGroup.objects.filter(title="Fresh").exists()


def test_popular_artists_and_artists_with_upcoming_releases_are_searched_more_often(upstream, settings):
    settings.CATALOG_HOT_FOLLOWERS = 2
    quiet, popular, upcoming = followed_synced(upstream, 3, back_catalogue=0)
    Follow.objects.create(user=User.objects.create(email="second@example.com"), artist=popular)
    upstream.set_release_groups(
        str(upcoming.mbid), [release_group("Soon", date=(today() + dt.timedelta(days=10)).isoformat())]
    )
    moment = timezone.now()
    discover(moment)

    due = dict(Artist.objects.values_list("pk", "search_due_at"))
    hot, cold = (
        dt.timedelta(seconds=s) for s in (settings.CATALOG_HOT_SEARCH_SECONDS, settings.CATALOG_SEARCH_SECONDS)
    )
    assert due[quiet.pk] == moment + cold
    assert due[popular.pk] == due[upcoming.pk] == moment + hot
    assert hot < cold


def test_two_runs_at_once_never_search_the_same_artists(upstream):
    import threading

    from django.db import connections

    followed_synced(upstream, 500, back_catalogue=0)
    results = []

    def run() -> None:
        try:
            results.append(discover())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(r.artists for r in results) == 1000  # 500 in each window, each once
    searched = [r.param("query") for r in searches(upstream)]
    assert len(searched) == len(set(searched))


def test_an_artist_never_browsed_is_not_searched(upstream):
    fan = User.objects.create(email="fan@example.com")
    artist = Artist.objects.create(mbid=fixture_mbid("artist", "new"), name="New")
    Follow.objects.create(user=fan, artist=artist)
    assert discover().artists == 0
    assert searches(upstream) == []


def test_searching_faster_than_the_replay_servers_rate_gets_503s_and_backs_off(upstream):
    followed_synced(upstream, 300, back_catalogue=0)
    upstream.max_per_second = 2.0  # the upstream's limit, below the client's 1,000/s in these tests
    upstream.burst = 1

    figures = discover()

    assert figures.failed == 0
    assert figures.artists == 600
    # Each search is one page (nothing in its dates): every request beyond that was a 503, retried
    # after the Retry-After that the shared limiter makes every process honour.
    assert figures.requests > figures.searches
    arrivals = [r.arrived for r in upstream.requests]
    assert arrivals[-1] - arrivals[0] >= (figures.searches - 1) / 2.0 - 0.1


def test_artists_falling_due_one_by_one_wait_to_fill_a_batch(upstream):
    artists = followed_synced(upstream, 150, back_catalogue=0)
    moment = timezone.now()
    per_search = discovery.batch_size(client=musicbrainz.default_client(), window=discovery.NEAR, today=today())
    # Falling due over the next 4 minutes, as they do once a deployment runs: nobody due yet.
    for n, artist in enumerate(artists):
        Artist.objects.filter(pk=artist.pk).update(
            search_due_at=moment + dt.timedelta(seconds=60 + n),
            far_search_due_at=moment + dt.timedelta(days=1),
        )

    # The 96 falling due soonest make a full batch: searched now, a little early.
    first = discover(moment)
    assert (first.searches, first.artists) == (1, per_search)
    # The other 54 are not a full batch and none of them is due: no search of a few artists.
    assert discover(moment + dt.timedelta(seconds=30)).searches == 0
    # Once the first of them is due, they all go in one search.
    later = discover(moment + dt.timedelta(seconds=60 + per_search))
    assert (later.searches, later.artists) == (1, 150 - per_search)
    assert len(searches(upstream)) == 2
