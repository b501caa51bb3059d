"""Brute force: failed log-ins, password resets and new links are limited per account and per client address."""

import time

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from musicdrops.accounts.models import User

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def short_lockout(settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 10
    settings.LOGIN_FAILURES_PER_ADDRESS = 50
    settings.LOGIN_LOCKOUT_SECONDS = 2
    return settings


@pytest.mark.parametrize("login_url", ["/accounts/login/", "/admin/login/"])
def test_brute_force_is_throttled_by_the_20th_try_and_the_right_password_works_after_the_wait(short_lockout, login_url):
    User.objects.create_superuser("admin@example.com", PASSWORD)
    client = Client()

    statuses = [
        client.post(login_url, {"username": "admin@example.com", "password": f"guess-{n}"}).status_code
        for n in range(20)
    ]

    assert statuses[:10] == [200] * 10  # the form again, with its error
    assert statuses[19] == 429
    refused = client.post(login_url, {"username": "admin@example.com", "password": PASSWORD})
    assert refused.status_code == 429  # even the right password, until the wait is over
    assert "Too many attempts, try again in 1 minute" in refused.content.decode()
    assert int(refused.headers["Retry-After"]) <= 2
    time.sleep(2.1)
    assert client.post(login_url, {"username": "admin@example.com", "password": PASSWORD}).status_code == 302


def test_one_address_trying_many_accounts_is_throttled(short_lockout):
    short_lockout.LOGIN_FAILURES_PER_ADDRESS = 5
    client = Client()

    statuses = [
        client.post(reverse("accounts:login"), {"username": f"u{n}@example.com", "password": "x"}).status_code
        for n in range(6)
    ]

    assert statuses == [200] * 5 + [429]
    # Another address is not refused.
    other = Client(REMOTE_ADDR="192.0.2.7")
    assert other.post(reverse("accounts:login"), {"username": "u9@example.com", "password": "x"}).status_code == 200


def test_password_resets_from_one_address_are_throttled_with_429(client, settings):
    settings.ACCOUNT_REQUESTS_PER_ADDRESS_PER_HOUR = 3

    statuses = [
        client.post(reverse("accounts:password_reset"), {"email": f"n{n}@example.com"}).status_code for n in range(4)
    ]

    assert statuses == [302, 302, 302, 429]


def test_new_verification_links_are_throttled_with_429(client, settings):
    settings.ACCOUNT_EMAILS_PER_HOUR = 2
    client.force_login(User.objects.create_user("fan@example.com", PASSWORD))

    statuses = [client.post(reverse("accounts:resend_verification")).status_code for _ in range(3)]

    assert statuses == [302, 302, 429]


def test_the_client_address_is_the_last_forwarded_hop_only_behind_the_proxy(settings):
    from musicdrops.accounts.throttle import client_address

    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")

    settings.SECURE_PROXY_SSL_HEADER = None
    assert client_address(request) == "10.0.0.1"  # the header is the client's own say
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client_address(request) == "203.0.113.9"  # what Heroku's router saw
