import pytest
from django.test import Client
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.drops.emails import unsubscribe_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def fan():
    return User.objects.create_user("fan@example.com", "correct-horse-battery-staple", email_verified_at=timezone.now())


def path(user: User) -> str:
    return unsubscribe_url(user.pk).split("localhost:8000", 1)[-1]


def test_one_click_post_unsubscribes_without_login_or_csrf(fan):
    client = Client(enforce_csrf_checks=True)

    response = client.post(path(fan), {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    fan.refresh_from_db()
    assert not fan.receives_drops


def test_the_visible_link_shows_a_self_submitting_form_and_changes_nothing_by_itself(client, fan):
    response = client.get(path(fan))

    assert response.status_code == 200
    assert b"data-auto-submit" in response.content
    assert b"auto-submit.js" in response.content
    fan.refresh_from_db()
    assert fan.receives_drops


def test_resubscribe(client, fan):
    client.post(path(fan))
    client.post(path(fan), {"resubscribe": "1"})

    fan.refresh_from_db()
    assert fan.receives_drops


@pytest.mark.parametrize(("token", "status"), [("1:forged", 400), ("9999:abc", 400), ("1", 404), ("garbage", 404)])
def test_a_bad_token_is_a_clear_400_or_not_even_a_page(client, fan, token, status):
    response = client.post(f"/drops/unsubscribe/{token}/")

    assert response.status_code == status
    fan.refresh_from_db()
    assert fan.receives_drops


@pytest.mark.parametrize("user_id", [1, 42, 1234567])
def test_the_daily_send_builds_the_same_unsubscribe_url(user_id):
    import datetime as dt

    from musicdrops.drops.emails import DropRenderer

    message = DropRenderer(day=dt.date(2026, 6, 1)).build(user_id=user_id, email="fan@example.com", releases=[])

    assert message.headers["List-Unsubscribe"] == f"<{unsubscribe_url(user_id)}>"
