"""The MusicBrainz client against the replay server: paging, retries, bad bodies, escaping, Unicode."""

import logging
import time

import pytest

from musicdrops.catalog import musicbrainz
from musicdrops.catalog.musicbrainz import (
    ArtistHit,
    ArtistNotFound,
    MusicBrainzClient,
    MusicBrainzError,
    ReleaseGroupData,
    escape_lucene,
)
from musicdrops.catalog.ratelimit import RateLimiter
from tests.catalog import upstream as up

USER_AGENT = "MusicDropsTests/1.0 ( https://example.org/contact )"


class RecordingLimiter(RateLimiter):
    """A real limiter that remembers its pauses."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pauses: list[float] = []

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        super().pause(seconds)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def limiter(redis_client) -> RecordingLimiter:
    return RecordingLimiter("test:musicbrainz", 1000.0, client=redis_client)


@pytest.fixture
def client(upstream, limiter, sleeps) -> MusicBrainzClient:
    return MusicBrainzClient(
        base_url=upstream.musicbrainz_url,
        user_agent=USER_AGENT,
        rate_limiter=limiter,
        timeout=2,
        sleep=sleeps.append,
    )


# --- browse: paging and contents -----------------------------------------------------


def test_250_release_groups_take_exactly_three_pages(client, upstream):
    mbid = up.fixture_mbid("artist", "prolific")
    upstream.set_release_groups(mbid, up.many_release_groups(250))

    groups = client.browse_release_groups(mbid)

    assert len(groups) == 250
    assert len({g.mbid for g in groups}) == 250
    browses = upstream.browse_requests(mbid)
    assert [(r.param("limit"), r.param("offset")) for r in browses] == [("100", "0"), ("100", "100"), ("100", "200")]
    assert client.requests_made == 3


def test_exactly_one_page_is_one_request(client, upstream):
    mbid = up.fixture_mbid("artist", "exactly a hundred")
    upstream.set_release_groups(mbid, up.many_release_groups(100))

    assert len(client.browse_release_groups(mbid)) == 100
    assert len(upstream.browse_requests(mbid)) == 1


def test_an_artist_without_release_groups_is_one_request(client, upstream):
    mbid = up.fixture_mbid("artist", "newcomer")
    upstream.set_release_groups(mbid, [])

    assert client.browse_release_groups(mbid) == []
    assert len(upstream.browse_requests(mbid)) == 1


def test_a_count_that_lies_stops_at_the_first_empty_page(client, upstream, monkeypatch):
    mbid = up.fixture_mbid("artist", "liar")
    upstream.set_release_groups(mbid, up.many_release_groups(120))
    answer = upstream.answer

    def inflated(request):
        reply = answer(request)
        return up.Reply(body=reply.body.replace(b'"release-group-count": 120', b'"release-group-count": 100000'))

    monkeypatch.setattr(upstream, "answer", inflated)

    assert len(client.browse_release_groups(mbid)) == 120
    assert len(upstream.browse_requests(mbid)) == 3  # 100, 20, then an empty page


def test_duplicates_across_pages_are_kept_once(client, upstream):
    mbid = up.fixture_mbid("artist", "shifting")
    groups = up.many_release_groups(150)
    upstream.set_release_groups(mbid, groups[:100] + groups[99:])  # one group shifted onto the next page

    result = client.browse_release_groups(mbid)

    assert len(result) == 150
    assert [g.mbid for g in result] == [g["id"] for g in groups]


def test_partial_and_empty_dates_and_null_types_are_kept_as_they_are(client):
    groups = {g.title: g for g in client.browse_release_groups(up.OLAFUR_ARNALDS)}

    assert groups["Ljósið"] == ReleaseGroupData(
        mbid=up.fixture_mbid("release-group", "Ljósið", "2024-03-15"),
        title="Ljósið",
        primary_type="Single",
        secondary_types=(),
        first_release_date="2024-03-15",
    )
    assert groups["Living Room Songs"].first_release_date == "2024-03"
    assert groups["re:member"].first_release_date == "2024"
    assert groups["Untitled session"].first_release_date == ""
    assert groups["Untitled session"].primary_type == ""
    assert groups["Island Songs (live)"].secondary_types == ("Live", "Compilation")


@pytest.mark.parametrize(
    "date", ["2024-13", "2024-02-30", "24-03-15", "2024/03/15", "March 2024", "2024-3-1", None, 2024]
)
def test_malformed_dates_become_empty(client, upstream, date):
    mbid = up.fixture_mbid("artist", "odd dates")
    group = up.release_group("Odd", date="")
    group["first-release-date"] = date
    upstream.set_release_groups(mbid, [group])

    [result] = client.browse_release_groups(mbid)

    assert result.first_release_date == ""


def test_unicode_titles_and_names_come_through_intact(client, upstream):
    titles = [g.title for g in client.browse_release_groups(up.RYUICHI_SAKAMOTO)]
    names = {hit.name for hit in client.search_artists("Motörhead")} | {client.get_artist(up.SIGUR_ROS).name}

    assert "戦場のメリークリスマス" in titles
    assert names == {"Motörhead", "Sigur Rós"}
    assert client.get_artist(up.RYUICHI_SAKAMOTO).sort_name == "Sakamoto, Ryuichi"


def test_entries_without_id_or_title_are_skipped_with_a_warning(client, upstream, caplog):
    mbid = up.fixture_mbid("artist", "sloppy")
    good = up.release_group("Fine")
    no_id = {**up.release_group("No id"), "id": None}
    bad_id = {**up.release_group("Bad id"), "id": "not-a-uuid"}
    no_title = up.release_group("x")
    del no_title["title"]
    upstream.set_release_groups(mbid, [no_id, good, "junk", bad_id, no_title])

    with caplog.at_level(logging.WARNING, logger="musicdrops.catalog.musicbrainz"):
        result = client.browse_release_groups(mbid)

    assert [g.title for g in result] == ["Fine"]
    assert sum("skipping a release group" in r.message for r in caplog.records) == 4


# --- retries -------------------------------------------------------------------------


def test_a_burst_of_503s_then_success(client, upstream, sleeps):
    upstream.script(up.MOTORHEAD, up.unavailable(), times=3)

    groups = client.browse_release_groups(up.MOTORHEAD)

    assert len(groups) == 3
    assert len(upstream.browse_requests(up.MOTORHEAD)) == 4
    assert sleeps == [1.0, 2.0, 4.0]  # exponential back-off


def test_retry_after_pauses_the_shared_limiter_for_everyone(client, upstream, limiter, sleeps, redis_client):
    upstream.script(up.MOTORHEAD, up.unavailable(retry_after=1))

    client.browse_release_groups(up.MOTORHEAD)

    first, second = upstream.browse_requests(up.MOTORHEAD)
    gap = second.arrived - first.arrived
    print(f"503 Retry-After: 1 -> next request {gap:.3f} s later")
    assert limiter.pauses == [1.0]
    assert sleeps == []  # the wait was the limiter's, shared by every process
    assert gap >= 0.95


def test_retry_after_is_capped(client, upstream, limiter, monkeypatch):
    monkeypatch.setattr(RateLimiter, "pause", lambda self, seconds: None)  # don't really stop for a minute
    upstream.script(up.MOTORHEAD, up.unavailable(retry_after=3600), up.too_many_requests(retry_after=120))

    client.browse_release_groups(up.MOTORHEAD)

    assert limiter.pauses == [60.0, 60.0]


def test_retry_after_as_an_http_date(client, upstream, limiter, monkeypatch):
    monkeypatch.setattr(RateLimiter, "pause", lambda self, seconds: None)
    upstream.script(up.MOTORHEAD, up.unavailable(retry_after="Wed, 21 Oct 2015 07:28:00 GMT"))

    client.browse_release_groups(up.MOTORHEAD)

    assert limiter.pauses == [0.0]  # a date in the past: no wait


def test_429_and_500s_are_retried_too(client, upstream, sleeps):
    upstream.script(up.SIGUR_ROS, up.too_many_requests(), up.unavailable(status=500), up.unavailable(status=502))

    assert len(client.browse_release_groups(up.SIGUR_ROS)) == 4
    assert len(sleeps) == 3


def test_gives_up_after_max_attempts(upstream, limiter, sleeps):
    client = MusicBrainzClient(
        base_url=upstream.musicbrainz_url,
        user_agent=USER_AGENT,
        rate_limiter=limiter,
        max_attempts=3,
        sleep=sleeps.append,
    )
    upstream.always(up.MOTORHEAD, up.unavailable())

    with pytest.raises(MusicBrainzError, match="after 3 attempts: HTTP 503"):
        client.browse_release_groups(up.MOTORHEAD)

    assert len(upstream.browse_requests(up.MOTORHEAD)) == 3
    assert sleeps == [1.0, 2.0]


def test_every_attempt_takes_a_rate_limit_slot(client, upstream, monkeypatch):
    acquired: list[float | None] = []

    def acquire(self, *, timeout=None, ahead=False):
        acquired.append(timeout)
        return 0.0

    monkeypatch.setattr(RateLimiter, "acquire", acquire)
    upstream.script(up.MOTORHEAD, up.unavailable(), times=2)

    client.browse_release_groups(up.MOTORHEAD)

    assert len(acquired) == 3 == client.requests_made


def test_a_timeout_is_retried_then_fails(upstream, limiter, sleeps):
    client = MusicBrainzClient(
        base_url=upstream.musicbrainz_url,
        user_agent=USER_AGENT,
        rate_limiter=limiter,
        timeout=0.2,
        max_attempts=2,
        sleep=sleeps.append,
    )
    upstream.always(up.MOTORHEAD, up.slow(2))

    began = time.monotonic()
    with pytest.raises(MusicBrainzError, match="Timeout"):
        client.browse_release_groups(up.MOTORHEAD)

    assert time.monotonic() - began < 1.5
    assert len(upstream.browse_requests(up.MOTORHEAD)) == 2


def test_a_slow_answer_within_the_timeout_is_fine(client, upstream):
    upstream.script(up.MOTORHEAD, up.slow(0.3))

    assert len(client.browse_release_groups(up.MOTORHEAD)) == 3


def test_connection_refused_is_retried_then_fails(limiter, sleeps):
    from scripts.localredis import free_port

    client = MusicBrainzClient(
        base_url=f"http://127.0.0.1:{free_port()}/ws/2",
        user_agent=USER_AGENT,
        rate_limiter=limiter,
        max_attempts=2,
        sleep=sleeps.append,
    )

    with pytest.raises(MusicBrainzError, match="ConnectionError"):
        client.get_artist(up.MOTORHEAD)
    assert sleeps == [1.0]


@pytest.mark.parametrize("reply", [up.garbage(), up.truncated(), up.wrong_shape()], ids=["html", "truncated", "shape"])
@pytest.mark.parametrize("call", ["browse", "lookup", "search"])
def test_unreadable_bodies_are_retried_then_a_musicbrainz_error(client, upstream, sleeps, reply, call):
    upstream.always("/ws/2/", reply)

    calls = {
        "browse": lambda: client.browse_release_groups(up.MOTORHEAD),
        "lookup": lambda: client.get_artist(up.MOTORHEAD),
        "search": lambda: client.search_artists("Motörhead"),
    }

    with pytest.raises(MusicBrainzError, match="unusable body"):
        calls[call]()

    assert len(upstream.requests) == 3  # retried twice, not max_attempts (5) times
    assert len(sleeps) == 2


def test_one_unreadable_body_then_a_good_one(client, upstream):
    upstream.script(up.MOTORHEAD, up.truncated())

    assert len(client.browse_release_groups(up.MOTORHEAD)) == 3


def test_other_4xx_fail_at_once(client, upstream, sleeps):
    upstream.script(up.MOTORHEAD, up.Reply(status=400, body=b'{"error": "Invalid type"}'))

    with pytest.raises(MusicBrainzError, match="HTTP 400") as raised:
        client.browse_release_groups(up.MOTORHEAD)

    assert not isinstance(raised.value, ArtistNotFound)
    assert len(upstream.requests) == 1
    assert sleeps == []


# --- lookup ---------------------------------------------------------------------------


def test_get_artist(client):
    assert client.get_artist(up.SIGUR_ROS) == ArtistHit(
        mbid=up.SIGUR_ROS,
        name="Sigur Rós",
        sort_name="Sigur Rós",
        disambiguation="Icelandic post-rock band",
        score=100,
        artist_type="Group",
        country="IS",
        area="Iceland",
        begin="1994",
    )


def test_an_unknown_artist_is_artist_not_found(client, upstream, sleeps):
    mbid = up.fixture_mbid("artist", "nobody")

    with pytest.raises(ArtistNotFound):
        client.get_artist(mbid)
    with pytest.raises(ArtistNotFound):
        client.browse_release_groups(mbid)
    assert len(upstream.requests) == 2
    assert sleeps == []


@pytest.mark.parametrize("junk", ["", "not-an-mbid", "../artist", "89ad4ac339f7470e963a56509c546377", "{x}"])
def test_junk_mbids_are_artist_not_found_without_a_request(client, upstream, junk):
    with pytest.raises(ArtistNotFound):
        client.get_artist(junk)
    with pytest.raises(ArtistNotFound):
        client.browse_release_groups(junk)
    assert upstream.requests == []


def test_upper_case_mbids_are_accepted(client, upstream):
    assert client.get_artist(up.MOTORHEAD.upper()).mbid == up.MOTORHEAD


# --- search ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("AC/DC", r"AC\/DC"),
        ("Simon & Garfunkel", r"Simon \& Garfunkel"),
        ("a && b || !c (d) {e}", r"a \&\& b \|\| \!c \(d\) \{e\}"),
        ('[f] ^g "h" ~i *j ?k :l \\m +n -o', r"\[f\] \^g \"h\" \~i \*j \?k \:l \\m \+n \-o"),
        ("Love AND Rockets", "Love and Rockets"),
        ("  Sigur Rós  ", "Sigur Rós"),
    ],
)
def test_user_input_is_escaped_for_lucene(client, upstream, typed, sent):
    client.search_artists(typed)

    [request] = upstream.requests
    assert request.param("query") == sent
    assert escape_lucene(typed.strip()) == sent


def test_search_finds_artists_with_special_characters(client):
    assert [hit.mbid for hit in client.search_artists("AC/DC")] == [up.AC_DC]
    assert [hit.name for hit in client.search_artists("Simon & Garfunkel")] == ["Simon & Garfunkel"]


def test_search_returns_hits_with_scores(client):
    [hit] = client.search_artists("Ólafur Arnalds")

    assert hit == ArtistHit(
        mbid=up.OLAFUR_ARNALDS,
        name="Ólafur Arnalds",
        sort_name="Arnalds, Ólafur",
        disambiguation="",
        score=100,
        artist_type="Person",
        country="IS",
        area="Iceland",
        begin="1986-11-03",
    )


def test_search_hits_say_what_tells_artists_apart(client):
    [hit] = client.search_artists("坂本龍一")

    assert (hit.artist_type, hit.country, hit.area, hit.begin, hit.end) == (
        "Person",
        "JP",
        "Japan",
        "1952-01-17",
        "2023-03-28",
    )


@pytest.mark.parametrize(
    "odd",
    [
        {"type": None, "country": None, "life-span": None, "area": None},
        {"type": 7, "country": "Iceland", "life-span": {"begin": "yesterday", "end": 1994}, "area": "IS"},
        {"type": ["Group"], "country": "i$", "life-span": [], "area": {"name": None}},
    ],
)
def test_odd_artist_details_are_left_blank(client, upstream, odd):
    mbid = upstream.add_artist("Oddity")
    upstream.artists[mbid].update(odd)

    hit = client.get_artist(mbid)

    assert hit.name == "Oddity"
    assert (hit.artist_type, hit.country, hit.area, hit.begin, hit.end) == ("", "", "", "", "")


def test_special_purpose_artists_are_left_out_of_search(client, upstream):
    upstream.add_artist("Various Artists Tribute Band")

    hits = client.search_artists("Various Artists")

    assert [hit.name for hit in hits] == ["Various Artists Tribute Band"]
    assert up.VARIOUS_ARTISTS in musicbrainz.SPECIAL_PURPOSE_ARTISTS
    assert client.search_artists("[unknown]") == []


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_an_empty_search_sends_nothing(client, upstream, query):
    assert client.search_artists(query) == []
    assert upstream.requests == []


@pytest.mark.parametrize(("asked", "sent"), [(0, "1"), (-5, "1"), (25, "25"), (500, "100")])
def test_search_limit_is_clamped(client, upstream, asked, sent):
    client.search_artists("Motörhead", limit=asked)

    assert upstream.requests[0].param("limit") == sent


def test_search_entries_without_id_are_skipped(client, upstream):
    upstream.script(
        "search",
        up.Reply(
            body=b'{"count": 2, "offset": 0, "artists": [{"name": "Ghost"}, '
            b'{"id": "57961a97-3796-4bf7-9f02-a985a8979ae9", "name": "Real", "score": "90"}]}'
        ),
    )

    hits = client.search_artists("anything")

    assert [(h.name, h.sort_name, h.score) for h in hits] == [("Real", "Real", 90)]


# --- every request --------------------------------------------------------------------


def test_every_request_says_who_we_are_and_asks_for_json(client, upstream):
    client.search_artists("Motörhead")
    client.get_artist(up.MOTORHEAD)
    client.browse_release_groups(up.MOTORHEAD)

    assert len(upstream.requests) == 3
    for request in upstream.requests:
        assert request.headers["User-Agent"] == USER_AGENT
        assert request.headers["Accept"] == "application/json"
        assert request.param("fmt") == "json"


def test_one_connection_is_reused(client, upstream):
    client.browse_release_groups(up.MOTORHEAD)
    client.browse_release_groups(up.SIGUR_ROS)

    assert len({r.client_port for r in upstream.requests}) == 1


def test_a_blocked_user_agent_fails_at_once(upstream, limiter, sleeps):
    client = MusicBrainzClient(
        base_url=upstream.musicbrainz_url, user_agent="python-requests/2.32", rate_limiter=limiter, sleep=sleeps.append
    )

    with pytest.raises(MusicBrainzError, match="HTTP 403"):
        client.get_artist(up.MOTORHEAD)
    assert sleeps == []


def test_default_client_uses_the_settings(upstream, settings):
    client = musicbrainz.default_client()

    assert client.get_artist(up.MOTORHEAD).name == "Motörhead"
    assert upstream.requests[0].headers["User-Agent"] == settings.MUSICBRAINZ_USER_AGENT
    assert client.rate_limiter.key == "musicdrops:ratelimit:musicbrainz"
    assert client.timeout == settings.UPSTREAM_TIMEOUT


def test_an_interactive_client_gives_up_waiting_for_its_turn(upstream):
    from musicdrops.catalog.ratelimit import RateLimiter

    slow_budget = RateLimiter("musicdrops:ratelimit:test-interactive", 0.2)
    slow_budget.acquire()  # the next turn is 5 s away
    client = musicbrainz.MusicBrainzClient(
        base_url=upstream.musicbrainz_url, user_agent="MusicDrops-tests/1 ( t@example.com )",
        rate_limiter=slow_budget, wait_for_turn=1,
    )  # fmt: skip

    with pytest.raises(musicbrainz.MusicBrainzError, match="queued"):
        client.search_artists("sigur")
    assert upstream.requests_to("/ws/2/artist") == []
