import re

import pytest
from django.urls import reverse
from django.utils import timezone

from musicdrops.accounts.models import User
from tests.helpers import last_link, queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def user(client):
    user = User.objects.create_user("fan@example.com", PASSWORD, email_verified_at=timezone.now())
    client.force_login(user)
    return user


def test_settings_needs_login(client):
    response = client.get(reverse("accounts:settings"))

    assert response.status_code == 302
    assert response.headers["Location"].startswith(reverse("accounts:login"))


def test_turning_the_daily_email_off(client, user):
    client.post(reverse("accounts:settings"), {"email": "fan@example.com"})

    user.refresh_from_db()
    assert not user.receives_drops
    assert user.email_verified


def test_a_new_email_is_confirmed_at_the_new_address_before_it_counts(client, user, redis_client, mailoutbox):
    from musicdrops.accounts.tasks import send_email_change_email_task

    client.post(reverse("accounts:settings"), {"email": "New@Example.com", "receives_drops": "on"})

    user.refresh_from_db()
    assert (user.email, user.email_verified) == ("fan@example.com", True)
    assert queued_tasks(redis_client, "important") == ["musicdrops.accounts.tasks.send_email_change_email_task"]
    send_email_change_email_task(user.pk, "new@example.com")
    assert mailoutbox[-1].to == ["new@example.com"]
    client.get(last_link(mailoutbox))
    user.refresh_from_db()
    assert (user.email, user.email_verified) == ("new@example.com", True)


def test_an_address_used_by_another_account_gets_the_same_answer_and_its_owner_is_told(client, user, redis_client):
    User.objects.create_user("other@example.com", PASSWORD)

    def answer(email: str) -> tuple[int, str, str]:
        response = client.post(reverse("accounts:settings"), {"email": email, "receives_drops": "on"}, follow=True)
        page = re.sub(
            r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode().replace(email, "ADDRESS")
        )
        return response.status_code, response.redirect_chain[-1][0], page

    assert answer("other@example.com") == answer("free@example.com")
    assert User.objects.get(pk=user.pk).email == "fan@example.com"
    assert sorted(queued_tasks(redis_client, "important")) == [
        "musicdrops.accounts.tasks.send_address_in_use_email_task",
        "musicdrops.accounts.tasks.send_email_change_email_task",
    ]


def test_deleting_the_account_needs_the_password(client, user):
    response = client.post(reverse("accounts:delete"), {"password": "wrong"})
    assert response.status_code == 400
    assert User.objects.filter(pk=user.pk).exists()

    response = client.post(reverse("accounts:delete"), {"password": PASSWORD})
    assert response.headers["Location"] == reverse("front:home")
    assert not User.objects.filter(pk=user.pk).exists()


def test_password_change_keeps_the_user_logged_in(client, user):
    new = "another-long-passphrase-7"
    client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )

    assert client.get(reverse("accounts:settings")).status_code == 200
    user.refresh_from_db()
    assert user.check_password(new)
