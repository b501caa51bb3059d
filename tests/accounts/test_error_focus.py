"""After a mistake, the field with the error has the focus, not the first field of the form."""

import re

import pytest
from django.urls import reverse

from musicdrops.accounts.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"


def focused(page: str) -> list[str]:
    return re.findall(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"[^>]*\bautofocus\b', page) + re.findall(
        r'<(?:input|select|textarea)[^>]*\bautofocus\b[^>]*\bname="([^"]+)"', page
    )


def test_a_password_too_short_on_sign_up_focuses_the_password(client):
    page = client.post(reverse("accounts:sign_up"), {"email": "new@example.com", "password": "short"})

    assert focused(page.content.decode()) == ["password"]


def test_a_wrong_password_on_log_in_focuses_the_password(client):
    User.objects.create_user("fan@example.com", PASSWORD)

    page = client.post(reverse("accounts:login"), {"username": "fan@example.com", "password": "wrong"})

    assert focused(page.content.decode()) == ["password"]


def test_a_fresh_log_in_page_focuses_the_email(client):
    assert focused(client.get(reverse("accounts:login")).content.decode()) == ["username"]


def test_a_wrong_current_password_in_settings_focuses_it(client, user):
    data = {"email": "new@example.com", "receives_drops": "on", "current_password": "wrong"}

    page = client.post(reverse("accounts:settings"), data).content.decode()

    assert focused(page) == ["current_password"]
