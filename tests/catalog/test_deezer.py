"""The Deezer client against the replay server: profile addresses, paging by next/total, errors in a 200's body."""

from typing import Any

import pytest

from musicdrops.catalog import deezer
from musicdrops.catalog.deezer import DeezerClient, DeezerError, DeezerProfileUnavailable, parse_profile
from tests.catalog import upstream as up
from tests.catalog.import_sources import deezer_artist, deezer_error

USER_AGENT = "MusicDropsTests/1.0 ( https://example.org/contact )"

pytestmark = pytest.mark.django_db  # the settings fixture; no rows


@pytest.mark.parametrize(
    ("given", "profile_id"),
    [
        ("123456789", "123456789"),
        (" 42 ", "42"),
        ("https://www.deezer.com/profile/123456789", "123456789"),
        ("https://www.deezer.com/en/profile/123456789", "123456789"),
        ("https://www.deezer.com/pt-br/profile/5/artists", "5"),
        ("http://deezer.com/us/profile/77/", "77"),
        ("www.deezer.com/fr/profile/8", "8"),
        ("https://www.deezer.com/user/9", "9"),
        ("HTTPS://WWW.DEEZER.COM/PROFILE/10", "10"),
    ],
)
def test_a_profile_address_or_number_gives_the_number(given, profile_id):
    assert parse_profile(given) == profile_id


@pytest.mark.parametrize(
    "given",
    [
        "",
        "0",
        "-5",
        "rob",
        "\uff11\uff12\uff13",  # full-width digits
        "9" * 16,
        "https://www.deezer.com/artist/27",
        "https://www.deezer.com/profile/abc",
        "https://www.deezer.com/profile/12/../../admin",
        "https://deezer.com.evil.example/profile/12",
        "https://evil.example/www.deezer.com/profile/12",
        "https://deezer.page.link/AbCdEf",
        "javascript:alert(1)",
        "ftp://www.deezer.com/profile/12",
        "https://[::1/profile/12",
    ],
)
def test_anything_else_is_not_a_profile(given):
    assert parse_profile(given) is None


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_client(server, sleeps, **kwargs) -> DeezerClient:
    options = {"rate_limiter": None, "timeout": 2, "page_size": 3, **kwargs}
    return DeezerClient(base_url=server.deezer_url, user_agent=USER_AGENT, sleep=sleeps.append, **options)


@pytest.fixture
def client(sources, sleeps) -> DeezerClient:
    return make_client(sources, sleeps)


def favourites(count: int) -> list[dict[str, Any]]:
    return [deezer_artist(f"Band {n}", 100 + n) for n in range(count)]


def test_a_public_profiles_favourites_page_by_page(client, sources):
    sources.deezer_profiles["42"] = favourites(8)

    artists = client.favourite_artists("42")

    assert [a.name for a in artists] == [f"Band {n}" for n in range(8)]
    assert {(a.mbid, a.listen_count) for a in artists} == {(None, 0)}
    requests = sources.requests_to("/deezer/user/42/artists")
    assert [(r.param("index"), r.param("limit")) for r in requests] == [("0", "3"), ("3", "3"), ("6", "3")]
    assert requests[0].headers["User-Agent"] == USER_AGENT


def test_paging_stops_at_the_most_asked(client, sources):
    sources.deezer_profiles["42"] = favourites(8)

    assert len(client.favourite_artists("42", most=4)) == 4
    assert len(sources.requests_to("/deezer")) == 2


def test_a_next_that_never_ends_is_bounded_by_the_total(client, sources):
    body = (
        b'{"data": [{"id": 1, "name": "Loop"}], "total": 5, "next": "https://api.deezer.com/user/42/artists?index=0"}'
    )
    sources.always("/deezer/user/42", up.Reply(body=body))

    assert len(client.favourite_artists("42")) == 2  # indexes 0 and 3: then past the total
    assert len(sources.requests_to("/deezer")) == 2


@pytest.mark.parametrize("profile", ["7", "404404"], ids=["private", "unknown"])
def test_a_private_or_unknown_profile_fails_at_once_saying_what_to_check(client, sources, sleeps, profile):
    sources.deezer_profiles["7"] = None  # private: Deezer answers "no data", as for nobody

    with pytest.raises(DeezerProfileUnavailable, match=rf"no favourite artists for profile {profile}.*public"):
        client.favourite_artists(profile)
    assert len(sources.requests_to("/deezer")) == 1
    assert sleeps == []


def test_an_oauth_error_is_a_private_profile_too(client, sources):
    sources.script("/deezer/user/42", deezer_error(200, "An active access token must be used", "OAuthException"))

    with pytest.raises(DeezerProfileUnavailable):
        client.favourite_artists("42")


def test_quota_exceeded_waits_and_tries_again(client, sources, sleeps):
    sources.deezer_profiles["42"] = favourites(2)
    sources.script("/deezer/user/42", deezer_error(4, "Quota limit exceeded", "Exception"), times=2)

    assert len(client.favourite_artists("42")) == 2
    assert sleeps == [5.0, 5.0]  # Deezer's quota counts over 5 seconds


def test_429_and_5xx_are_retried_a_bounded_number_of_times_then_fail_naming_deezer(client, sources, sleeps):
    sources.deezer_profiles["42"] = favourites(2)
    sources.script("/deezer/user/42", up.too_many_requests(retry_after=3), up.unavailable(status=500))
    sources.always("/deezer/user/42", deezer_error(4, "Quota limit exceeded", "Exception"))

    with pytest.raises(DeezerError, match="failed after 4 attempts: Deezer quota exceeded"):
        client.favourite_artists("42")
    assert sleeps == [3.0, 2.0, 5.0]
    assert len(sources.requests_to("/deezer")) == 4


def test_quota_then_answers_on_a_later_page(client, sources, sleeps):
    sources.deezer_profiles["42"] = favourites(5)
    sources.script("/deezer/user/42", up.Reply(body=None), deezer_error(4, "Quota limit exceeded", "Exception"))

    assert len(client.favourite_artists("42")) == 5
    assert sleeps == [5.0]


@pytest.mark.parametrize(
    "reply",
    [up.garbage(), up.truncated(), up.wrong_shape(), up.Reply(body=b'{"data": {"name": "x"}}')],
    ids=["html", "truncated", "shape", "data-not-a-list"],
)
def test_unreadable_bodies_are_a_deezer_error(client, sources, reply):
    sources.deezer_profiles["42"] = favourites(2)
    sources.always("/deezer/user/42", reply)

    with pytest.raises(DeezerError, match="unusable body"):
        client.favourite_artists("42")
    assert len(sources.requests_to("/deezer")) == 3


def test_another_error_fails_at_once(client, sources):
    sources.script("/deezer/user/42", deezer_error(600, "Invalid query", "ParameterException"))

    with pytest.raises(DeezerError, match="Deezer error 600: Invalid query"):
        client.favourite_artists("42")


def test_odd_entries_are_skipped_and_names_in_every_script_come_through(client, sources):
    names = ["坂本龍一", "Ёлка", "עידן רייכל", "فيروز", "BTS (방탄소년단)", "Sigur Rós", "🎸 Emoji Band"]
    sources.deezer_profiles["42"] = [
        *(deezer_artist(name, n) for n, name in enumerate(names)),
        {"id": 99},
        {"id": 98, "name": None},
        {"id": 97, "name": " \t "},
        "junk",
    ]

    assert [a.name for a in make_client(sources, [], page_size=50).favourite_artists("42")] == names


def test_a_number_is_all_that_reaches_the_url(client, sources):
    with pytest.raises(DeezerProfileUnavailable):
        client.favourite_artists("../me")
    assert sources.requests_to("/deezer") == []


def test_default_client_uses_the_settings(sources, settings):
    sources.deezer_profiles["42"] = favourites(2)

    assert len(deezer.default_client().favourite_artists("42")) == 2
    assert sources.requests_to("/deezer")[0].headers["User-Agent"] == settings.MUSICBRAINZ_USER_AGENT
