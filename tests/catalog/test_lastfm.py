"""The Last.fm client against the replay server: paging to the minimum, errors 6 and 29, 5xx, odd data."""

from typing import Any

import pytest

from musicdrops.catalog import lastfm
from musicdrops.catalog.lastfm import LastfmClient, LastfmError, LastfmNotConfigured, UnknownLastfmUser
from musicdrops.catalog.listenbrainz import TopArtist
from musicdrops.catalog.ratelimit import RateLimiter
from tests.catalog import upstream as up
from tests.catalog.import_sources import API_KEY, lastfm_artist, lastfm_error

USER_AGENT = "MusicDropsTests/1.0 ( https://example.org/contact )"

pytestmark = pytest.mark.django_db  # the settings fixture; no rows


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_client(server, sleeps, **kwargs) -> LastfmClient:
    options = {"api_key": API_KEY, "rate_limiter": None, "timeout": 2, "page_size": 3, **kwargs}
    return LastfmClient(base_url=server.lastfm_url, user_agent=USER_AGENT, sleep=sleeps.append, **options)


@pytest.fixture
def client(sources, sleeps) -> LastfmClient:
    return make_client(sources, sleeps)


def library(count: int) -> list[dict[str, Any]]:
    """``count`` artists, most played first: 1000 plays, then 990, 980..."""
    return [lastfm_artist(f"Band {n}", 1000 - 10 * n) for n in range(count)]


def test_top_artists_with_mbids_where_lastfm_has_them(client, sources):
    sources.lastfm_users["rj"] = [
        lastfm_artist("Sigur Rós", 1204, mbid=up.SIGUR_ROS),
        lastfm_artist("Motörhead", "877"),
    ]

    artists = client.top_artists("rj", period="overall")

    assert artists == [
        TopArtist(mbid=up.SIGUR_ROS, name="Sigur Rós", listen_count=1204),
        TopArtist(mbid=None, name="Motörhead", listen_count=877),
    ]
    [request] = sources.requests_to("/lastfm")
    assert request.param("method") == "user.gettopartists"
    assert request.param("user") == "rj"
    assert request.param("period") == "overall"
    assert request.param("api_key") == API_KEY
    assert request.param("format") == "json"
    assert request.headers["User-Agent"] == USER_AGENT


def test_a_long_library_is_read_page_by_page_up_to_the_most_asked(client, sources):
    sources.lastfm_users["long"] = library(10)

    assert [a.name for a in client.top_artists("long", period="7day")] == [f"Band {n}" for n in range(10)]
    assert [r.param("page") for r in sources.requests_to("/lastfm")] == ["1", "2", "3", "4"]
    assert {r.param("period") for r in sources.requests_to("/lastfm")} == {"7day"}

    assert len(client.top_artists("long", period="overall", most=4)) == 4
    assert len(sources.requests_to("/lastfm")) == 4 + 2  # two pages of three give the four


def test_paging_stops_once_play_counts_drop_under_the_minimum(client, sources):
    sources.lastfm_users["long"] = library(100)  # 1000 plays down to 10

    artists = client.top_artists("long", period="12month", min_plays=955)

    assert [a.listen_count for a in artists] == [1000, 990, 980, 970, 960]
    assert len(sources.requests_to("/lastfm")) == 2  # the second page ends at 950: no third page is asked


def test_an_unknown_user_fails_at_once_saying_so(client, sources, sleeps):
    with pytest.raises(UnknownLastfmUser, match=r"Last\.fm has no user “nobody”"):
        client.top_artists("nobody", period="overall")
    assert len(sources.requests_to("/lastfm")) == 1
    assert sleeps == []


def test_an_unknown_user_in_a_200_body_too(client, sources):
    sources.lastfm_users["rj"] = library(2)
    sources.script("/lastfm", lastfm_error(6, "User not found"))

    with pytest.raises(UnknownLastfmUser):
        client.top_artists("rj", period="overall")


@pytest.mark.parametrize("status", [200, 429])
def test_error_29_is_retried_with_backoff(client, sources, sleeps, status):
    sources.lastfm_users["rj"] = library(2)
    sources.script("/lastfm", lastfm_error(29, "Rate Limit Exceeded", status=status), times=2)

    assert len(client.top_artists("rj", period="overall")) == 2
    assert sleeps == [1.0, 2.0]
    assert len(sources.requests_to("/lastfm")) == 3


def test_429_waits_as_long_as_retry_after_says(client, sources, sleeps):
    sources.lastfm_users["rj"] = library(2)
    sources.script("/lastfm", up.too_many_requests(retry_after=7))

    client.top_artists("rj", period="overall")

    assert sleeps == [7.0]


def test_5xx_and_error_29_are_retried_a_bounded_number_of_times_then_fail_naming_lastfm(client, sources, sleeps):
    sources.lastfm_users["rj"] = library(2)
    sources.script("/lastfm", up.unavailable(status=502), lastfm_error(16, "Service temporarily unavailable"))
    sources.always("/lastfm", lastfm_error(29, "Rate Limit Exceeded"))

    with pytest.raises(LastfmError, match=r"after 4 attempts: Last.fm error 29") as failure:
        client.top_artists("rj", period="overall")
    assert "/lastfm/2.0/" in str(failure.value)
    assert len(sources.requests_to("/lastfm")) == 4
    assert sleeps == [1.0, 2.0, 4.0]


def test_a_timeout_is_retried(sources, sleeps):
    sources.lastfm_users["rj"] = library(2)
    sources.script("/lastfm", up.slow(1))
    client = make_client(sources, sleeps, timeout=0.2)

    assert len(client.top_artists("rj", period="overall")) == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    "reply",
    [up.garbage(), up.truncated(), up.wrong_shape(), up.Reply(body=b'{"topartists": {"artist": "none"}}')],
    ids=["html", "truncated", "shape", "artist-not-a-list"],
)
def test_unreadable_bodies_are_a_lastfm_error(client, sources, reply):
    sources.lastfm_users["rj"] = library(2)
    sources.always("/lastfm", reply)

    with pytest.raises(LastfmError, match="unusable body"):
        client.top_artists("rj", period="overall")
    assert len(sources.requests_to("/lastfm")) == 3


def test_odd_entries_are_skipped_and_odd_fields_read(client, sources):
    sources.lastfm_users["odd"] = [
        {**lastfm_artist("Shouting", 90), "mbid": up.MOTORHEAD.upper()},
        {**lastfm_artist("Number", 80), "playcount": 80},
        {**lastfm_artist("Not an MBID", 70), "mbid": "not-a-uuid"},
        {**lastfm_artist("No MBID key", 60)} | {"mbid": None},
        {"playcount": "50", "mbid": up.SIGUR_ROS},  # no name
        {"name": "No count"},
        {"name": "Bad count", "playcount": "lots"},
        {"name": "Negative", "playcount": -3},
        {"name": "   ", "playcount": "3"},
        "junk",
        {**lastfm_artist("Control\x00chars\u200b\u200b", 2)},
    ]

    artists = make_client(sources, [], page_size=50).top_artists("odd", period="overall")

    assert [(a.name, a.mbid, a.listen_count) for a in artists] == [
        ("Shouting", up.MOTORHEAD, 90),
        ("Number", None, 80),
        ("Not an MBID", None, 70),
        ("No MBID key", None, 60),
        ("Controlchars\u200b", None, 2),
    ]


def test_a_single_artist_as_a_bare_object_is_read(client, sources):
    sources.always("/lastfm", up.Reply(body=b'{"topartists": {"artist": {"name": "Solo", "playcount": "4"}}}'))

    assert client.top_artists("anyone", period="overall") == [TopArtist(mbid=None, name="Solo", listen_count=4)]


def test_names_in_every_script_come_through(client, sources):
    names = [
        "坂本龍一",
        "Ёлка",
        "עידן רייכל",
        "فيروز",
        "BTS (방탄소년단)",
        "Ólafur Arnalds",
        "ธงไชย แมคอินไตย์",
        "🎸 Emoji Band",
    ]
    sources.lastfm_users["world"] = [lastfm_artist(name, 100 - n) for n, name in enumerate(names)]

    assert [a.name for a in client.top_artists("world", period="overall")] == names


def test_user_names_go_as_a_parameter_whatever_they_hold(client, sources):
    sources.lastfm_users["Jörg/../?&x=1"] = library(1)

    assert len(client.top_artists("Jörg/../?&x=1", period="overall")) == 1
    assert sources.requests_to("/lastfm")[0].param("user") == "Jörg/../?&x=1"


def test_no_key_and_a_refused_key_say_so(sources, sleeps):
    sources.lastfm_users["rj"] = library(1)

    with pytest.raises(LastfmNotConfigured, match=r"no Last\.fm API key"):
        make_client(sources, sleeps, api_key="").top_artists("rj", period="overall")
    assert sources.requests_to("/lastfm") == []
    with pytest.raises(LastfmNotConfigured, match="refused this site's API key"):
        make_client(sources, sleeps, api_key="wrong").top_artists("rj", period="overall")
    assert len(sources.requests_to("/lastfm")) == 1


def test_an_unknown_period_is_a_programming_error(client, sources):
    with pytest.raises(ValueError, match="period"):
        client.top_artists("rj", period="forever")
    assert sources.requests_to("/lastfm") == []


def test_every_request_waits_its_turn_in_the_shared_limiter(sources, redis_client):
    sources.lastfm_users["long"] = library(9)
    waits: list[float] = []
    limiter = RateLimiter("ratelimit:lastfm-test", 4.0, sleep=waits.append)

    make_client(sources, [], rate_limiter=limiter).top_artists("long", period="overall")

    # Three pages at 4 a second, the sleeps not really slept: the second waits a quarter second, the third half.
    assert waits == pytest.approx([0.25, 0.5], abs=0.05)


def test_default_client_uses_the_settings(sources, settings):
    sources.lastfm_users["rj"] = library(2)

    assert len(lastfm.default_client().top_artists("rj", period="overall")) == 2
    assert sources.requests_to("/lastfm")[0].headers["User-Agent"] == settings.MUSICBRAINZ_USER_AGENT
