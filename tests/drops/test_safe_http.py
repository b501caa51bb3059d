"""A user's URL is fetched only at public addresses, after DNS, with the address actually connected to checked."""

import pytest

from musicdrops import safe_http
from musicdrops.drops import push
from tests.integration.push_server import Behaviour, PushServer


@pytest.fixture
def server():
    s = PushServer()
    base = s.start()
    yield s, base
    s.stop()


@pytest.fixture(autouse=True)
def _http_allowed(settings):
    # The address checks keep the loopback ban on; only plain http is let through for a local server.
    settings.SAFE_HTTP_ALLOW_HTTP = True
    settings.SAFE_HTTP_ALLOW_LOOPBACK = False


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/topic",
        "http://[::1]:9/topic",
        "http://10.0.0.1/topic",
        "http://192.168.1.20/topic",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest",
        "http://[::ffff:127.0.0.1]/topic",
        "http://0.0.0.0/topic",
        "http://224.0.0.1/topic",
        "http://localhost:9/topic",  # a name that resolves to loopback
    ],
)
def test_private_loopback_metadata_and_names_resolving_to_them_are_refused(url):
    with pytest.raises(safe_http.Refused, match="not a public address"):
        safe_http.post(url, body=b"x", headers={})


def test_the_outcome_of_a_refused_address_is_permanent_with_the_reason():
    result = push.push_send(kind="ntfy", url="http://127.0.0.1:9/topic", title="t", text="x")
    assert not result.ok
    assert result.permanent
    assert "127.0.0.1" in result.detail


def test_a_redirect_to_loopback_is_not_followed(server, settings):
    s, base = server
    settings.SAFE_HTTP_ALLOW_LOOPBACK = True  # to reach the local server at all; its redirect is the point
    s.behaviour = Behaviour(status=302, location="http://127.0.0.1:1/admin")
    result = push.push_send(kind="slack", url=f"{base}/hook", title="t", text="x")
    assert not result.ok
    assert result.permanent
    assert "redirects are not followed" in result.detail
    assert s.requests == 1


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://ntfy.sh/topic", "https://"),
        ("https://user:pw@ntfy.sh/topic", "user name"),
        ("https:///topic", "no host"),
        ("https://ntfy.sh:99999/x", "not a URL"),
    ],
)
def test_url_shapes_are_checked(url, reason):
    with pytest.raises(safe_http.Refused, match=reason):
        safe_http.check_url(url)


def test_plain_http_is_refused_outside_development(settings):
    settings.SAFE_HTTP_ALLOW_HTTP = False
    with pytest.raises(safe_http.Refused, match="https://"):
        safe_http.check_url("http://ntfy.sh/topic")
    assert safe_http.check_url("https://ntfy.sh/mytopic") == ("https", "ntfy.sh", 443, "/mytopic")


def test_a_public_address_passes():
    safe_http.check_address("93.184.215.14")
    safe_http.check_address("2606:4700::6810:84e5")


def test_a_slow_server_is_a_try_later(server, settings):
    s, base = server
    settings.SAFE_HTTP_ALLOW_LOOPBACK = True
    settings.SAFE_HTTP_READ_SECONDS = 1
    s.behaviour = Behaviour(delay=2.5)
    result = push.push_send(kind="ntfy", url=f"{base}/topic", title="t", text="x")
    assert not result.ok
    assert not result.permanent
    assert "could not reach" in result.detail


def test_a_huge_answer_is_refused(server, settings):
    s, base = server
    settings.SAFE_HTTP_ALLOW_LOOPBACK = True
    s.behaviour = Behaviour(size=safe_http.MAX_BODY + 1)
    with pytest.raises(safe_http.Refused, match="longer than"):
        safe_http.post(f"{base}/topic", body=b"x", headers={})


@pytest.mark.parametrize(
    ("status", "headers", "body", "ok", "permanent", "retry_after"),
    [
        (200, {}, b"ok", True, False, None),
        (204, {}, b"", True, False, None),
        (429, {"retry-after": "7"}, b"", False, False, 7.0),
        (429, {}, b'{"retry_after": 2.5}', False, False, 2.5),
        (503, {}, b"busy", False, False, None),
        (400, {}, b"invalid_payload", False, True, None),
        (404, {}, b"no_service", False, True, None),
    ],
)
def test_answers_mean_sent_try_later_or_refused(status, headers, body, ok, permanent, retry_after):
    result = push.outcome_of(safe_http.Answer(status, headers, body))
    assert (result.ok, result.permanent, result.retry_after) == (ok, permanent, retry_after)
