"""The ListenBrainz client against the replay server: stats not ready, unknown users, rate limits, missing MBIDs."""

import pytest

from musicdrops.catalog import listenbrainz
from musicdrops.catalog.listenbrainz import (
    ListenBrainzClient,
    ListenBrainzError,
    StatsNotReady,
    TopArtist,
    UnknownListenBrainzUser,
)
from tests.catalog import upstream as up

USER_AGENT = "MusicDropsTests/1.0 ( https://example.org/contact )"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(upstream, sleeps) -> ListenBrainzClient:
    return ListenBrainzClient(base_url=upstream.listenbrainz_url, user_agent=USER_AGENT, timeout=2, sleep=sleeps.append)


def test_top_artists(client, upstream):
    artists = client.top_artists("rob")

    assert artists == [
        TopArtist(mbid=up.SIGUR_ROS, name="Sigur Rós", listen_count=1204),
        TopArtist(mbid=up.MOTORHEAD, name="Motörhead", listen_count=877),
        TopArtist(mbid=up.RYUICHI_SAKAMOTO, name="坂本龍一", listen_count=450),
        TopArtist(mbid=None, name="Some Bandcamp Act", listen_count=120),
    ]
    [request] = upstream.requests
    assert request.path == "/1/stats/user/rob/artists"
    assert request.param("range") == "all_time"
    assert request.param("count") == "100"
    assert request.headers["User-Agent"] == USER_AGENT


def test_range_and_count_are_passed_and_count_is_clamped(client, upstream):
    client.top_artists("rob", count=5000, range_="this_year")

    assert upstream.requests[0].param("count") == "1000"
    assert upstream.requests[0].param("range") == "this_year"


def test_an_unknown_range_is_a_programming_error(client, upstream):
    with pytest.raises(ValueError, match="range"):
        client.top_artists("rob", range_="forever")
    assert upstream.requests == []


def test_user_names_are_quoted_into_the_path(client, upstream):
    upstream.set_top_artists("Jörg Müller?#", [up.listenbrainz_artist("Motörhead", 3)])

    [artist] = client.top_artists("Jörg Müller?#")

    assert artist.name == "Motörhead"
    assert upstream.requests[0].path == "/1/stats/user/Jörg Müller?#/artists"


def test_stats_not_computed_yet(client, upstream, sleeps):
    with pytest.raises(StatsNotReady):
        client.top_artists("newcomer")
    assert len(upstream.requests) == 1
    assert sleeps == []


def test_unknown_user(client, upstream):
    with pytest.raises(UnknownListenBrainzUser):
        client.top_artists("nobody-of-that-name")
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("name", ["", "   ", "a/b", "../../1/user", "x" * 65])
def test_impossible_user_names_send_nothing(client, upstream, name):
    with pytest.raises(UnknownListenBrainzUser):
        client.top_artists(name)
    assert upstream.requests == []


def test_429_waits_as_long_as_listenbrainz_says(client, upstream, sleeps):
    upstream.script("rob", up.too_many_requests(reset_in=7), up.too_many_requests(reset_in=3600))

    assert len(client.top_artists("rob")) == 4
    assert sleeps == [7.0, 60.0]  # the second wait is capped
    assert len(upstream.requests) == 3


def test_429_without_a_reset_header_backs_off(client, upstream, sleeps):
    upstream.script("rob", up.too_many_requests())

    client.top_artists("rob")

    assert sleeps == [1.0]


def test_5xx_is_retried_then_gives_up(client, upstream, sleeps):
    upstream.always("rob", up.unavailable(status=502))

    with pytest.raises(ListenBrainzError, match="after 4 attempts: HTTP 502"):
        client.top_artists("rob")
    assert len(upstream.requests) == 4
    assert sleeps == [1.0, 2.0, 4.0]


@pytest.mark.parametrize("reply", [up.garbage(), up.truncated(), up.wrong_shape()], ids=["html", "truncated", "shape"])
def test_unreadable_bodies_are_a_listenbrainz_error(client, upstream, reply):
    upstream.always("rob", reply)

    with pytest.raises(ListenBrainzError, match="unusable body"):
        client.top_artists("rob")
    assert len(upstream.requests) == 3


def test_a_timeout_is_retried(upstream, sleeps):
    client = ListenBrainzClient(
        base_url=upstream.listenbrainz_url, user_agent=USER_AGENT, timeout=0.2, sleep=sleeps.append
    )
    upstream.script("rob", up.slow(1))

    assert len(client.top_artists("rob")) == 4
    assert len(sleeps) == 1


def test_400_fails_at_once(client, upstream):
    upstream.script("rob", up.Reply(status=400, body=b'{"code": 400, "error": "Bad count"}'))

    with pytest.raises(ListenBrainzError, match="HTTP 400"):
        client.top_artists("rob")
    assert len(upstream.requests) == 1


def test_missing_null_empty_and_invalid_mbids_become_none(client, upstream):
    collaboration = up.listenbrainz_artist("A & B", 4, mbid="")
    collaboration["artist_mbids"] = [up.fixture_mbid("a"), up.fixture_mbid("b")]
    older_answer = up.listenbrainz_artist("Solo", 3, mbid="")
    older_answer["artist_mbids"] = [up.MOTORHEAD]
    upstream.set_top_artists(
        "mixed",
        [
            up.listenbrainz_artist("Missing", 10, mbid=""),  # the key left out
            up.listenbrainz_artist("Null", 9, mbid=None),
            {**up.listenbrainz_artist("Empty", 8), "artist_mbid": ""},
            {**up.listenbrainz_artist("Invalid", 7), "artist_mbid": "not-a-uuid"},
            {**up.listenbrainz_artist("Number", 6), "artist_mbid": 42},
            {**up.listenbrainz_artist("Shouting", 5), "artist_mbid": up.SIGUR_ROS.upper()},
            collaboration,
            older_answer,
        ],
    )

    artists = {a.name: a.mbid for a in client.top_artists("mixed")}

    assert artists == {
        "Missing": None,
        "Null": None,
        "Empty": None,
        "Invalid": None,
        "Number": None,
        "Shouting": up.SIGUR_ROS,
        "A & B": None,
        "Solo": up.MOTORHEAD,
    }


def test_entries_without_name_or_count_are_skipped(client, upstream):
    upstream.set_top_artists(
        "sloppy",
        [
            {"artist_mbid": up.MOTORHEAD, "listen_count": 3},
            {"artist_name": "No count"},
            {"artist_name": "Bool count", "listen_count": True},
            "junk",
            up.listenbrainz_artist("Fine", 1),
        ],
    )

    assert [a.name for a in client.top_artists("sloppy")] == ["Fine"]


def test_default_client_uses_the_settings(upstream, settings):
    client = listenbrainz.default_client()

    assert len(client.top_artists("rob")) == 4
    assert upstream.requests[0].headers["User-Agent"] == settings.MUSICBRAINZ_USER_AGENT
