"""Rotating SECRET_KEY with the old one in SECRET_KEY_FALLBACKS: nobody is logged out, no link breaks.

The Procfile's web process, with production settings, is restarted three times:
with the old key; with a new key and the old one as a fallback; with the new key alone.
"""

import subprocess
import sys
from collections.abc import Callable
from http.cookies import SimpleCookie

import pytest
import requests
from django.contrib.auth.tokens import default_token_generator
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from musicdrops.accounts.models import User
from musicdrops.accounts.tokens import make_verification_token
from musicdrops.drops.emails import unsubscribe_token
from musicdrops.feeds.services import feed_token_for
from scripts.localredis import free_port
from tests.integration.processes import ROOT, Process, child_env, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

OLD_KEY = "old-key-that-leaked-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789"
NEW_KEY = "new-key-after-rotation-0123456789-abcdefghijklmnopqrstuvwxyz-012345"
PASSWORD = "correct-horse-battery-staple"


def production(port: int, **extra: str) -> dict[str, str]:
    return {
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SITE_URL": f"http://127.0.0.1:{port}",
        "SECURE_SSL_REDIRECT": "0",
        "SECRET_KEY_FALLBACKS": "",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        **extra,
    }


@pytest.fixture(scope="module")
def _static_manifest() -> None:
    """Production pages name hashed static files from collectstatic's manifest, as the image and Heroku build it."""
    env = child_env(DEBUG="0", SECRET_KEY="collectstatic-only-not-a-secret")
    command = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"]
    subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=120)


class Browser:
    """A client that keeps its cookies by hand: production cookies are Secure, and this is plain HTTP on loopback."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, *, data: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> requests.Response:
        headers = {"Origin": self.base, **(headers or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        url = self.base + path
        response = requests.request(method, url, data=data, headers=headers, allow_redirects=False, timeout=10)
        for raw in response.raw.headers.getlist("Set-Cookie"):
            for name, morsel in SimpleCookie(raw).items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)  # deleted
        assert response.status_code < 500, f"{method} {path}: {response.status_code}\n{response.text[:2000]}"
        return response

    def log_in(self, email: str, password: str) -> None:
        self.request("GET", reverse("accounts:login"))
        data = {"username": email, "password": password, "csrfmiddlewaretoken": self.cookies["csrftoken"]}
        response = self.request("POST", reverse("accounts:login"), data=data)
        assert response.status_code == 302, response.text[:2000]

    def start_refresh(self) -> str:
        headers = {"Accept": "application/json", "X-CSRFToken": self.cookies["csrftoken"]}
        response = self.request("POST", reverse("jobs:refresh"), headers=headers)
        assert response.status_code == 202, response.text[:2000]
        return str(response.json()["status_url"])


def start_web(start_process: Callable[..., Process], port: int, **keys: str) -> Process:
    web = start_process("web", **production(port, **keys))
    wait_until(lambda: _answers(port), 60, "the web process to answer", web)
    return web


def _answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.usefixtures("_static_manifest")
def test_a_rotated_key_keeps_sessions_polls_and_links_only_while_the_old_one_is_a_fallback(start_process):
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"]):  # web's
        user = User.objects.create_user("rotate@example.com", PASSWORD, email_verified_at=timezone.now())
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    web = start_web(start_process, port, SECRET_KEY=OLD_KEY)
    # Two sessions: Django moves a session it accepts through a fallback to the new key, so the
    # second one is kept aside, untouched, for the restart without the fallback.
    kept, aside = Browser(base), Browser(base)
    kept.log_in(user.email, PASSWORD)
    aside.log_in(user.email, PASSWORD)
    poll = kept.start_refresh()
    with override_settings(SECRET_KEY=OLD_KEY, SECRET_KEY_FALLBACKS=[]):
        user.refresh_from_db()  # the log-ins changed last_login, which a reset link is bound to
        unsubscribe = reverse("drops:unsubscribe", args=[unsubscribe_token(user.pk)])
        verify = reverse("accounts:verify_email", args=[make_verification_token(user)])
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        reset = reverse("accounts:password_reset_confirm", args=[uid, default_token_generator.make_token(user)])
    feed = reverse("feeds:atom", args=[feed_token_for(user=user)])

    def answers(browser: Browser) -> dict[str, int]:
        anonymous = Browser(base)
        return {
            "dashboard": browser.request("GET", reverse("front:dashboard")).status_code,
            "poll": browser.request("GET", poll, headers={"Accept": "application/json"}).status_code,
            "unsubscribe": anonymous.request("GET", unsubscribe).status_code,
            "verify": anonymous.request("GET", verify).status_code,
            "reset": anonymous.request("GET", reset).status_code,  # a valid link redirects to its form
            "feed": anonymous.request("GET", feed).status_code,
        }

    working = {"dashboard": 200, "poll": 200, "unsubscribe": 200, "verify": 302, "reset": 302, "feed": 200}
    assert answers(kept) == working

    web.stop()
    web = start_web(start_process, port, SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=f"unused-older-key,{OLD_KEY}")
    assert answers(kept) == working
    assert answers(kept) == working  # and again, on the session Django moved to the new key

    web.stop()
    start_web(start_process, port, SECRET_KEY=NEW_KEY)
    stopped = answers(aside)
    # Logged out (to the login page), the poll a 404, each link its "invalid link" page; the feed's secret is no key's.
    assert stopped == {"dashboard": 302, "poll": 404, "unsubscribe": 400, "verify": 400, "reset": 200, "feed": 200}
    assert "/accounts/login/" in aside.request("GET", reverse("front:dashboard")).headers["Location"]
    assert "This unsubscribe link doesn" in Browser(base).request("GET", unsubscribe).text
    assert answers(kept)["dashboard"] == 200  # the session moved to the new key while the fallback was there
