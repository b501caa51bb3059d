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

    client.post(
        reverse("accounts:settings"),
        {"email": "New@Example.com", "receives_drops": "on", "current_password": PASSWORD},
    )

    user.refresh_from_db()
    assert (user.email, user.email_verified) == ("fan@example.com", True)
    assert sorted(queued_tasks(redis_client, "important")) == [
        "musicdrops.accounts.tasks.send_address_change_requested_task",
        "musicdrops.accounts.tasks.send_email_change_email_task",
    ]
    send_email_change_email_task(user.pk, "new@example.com")
    assert mailoutbox[-1].to == ["new@example.com"]
    # It asks to move an account, not to confirm a sign-up nobody made.
    assert "move your MusicDrops account to this address" in mailoutbox[-1].body
    assert "sign up" not in mailoutbox[-1].body
    client.get(last_link(mailoutbox))
    user.refresh_from_db()
    assert (user.email, user.email_verified) == ("new@example.com", True)


def test_an_address_used_by_another_account_gets_the_same_answer_and_its_owner_is_told(client, user, redis_client):
    User.objects.create_user("other@example.com", PASSWORD)

    def answer(email: str) -> tuple[int, str, str]:
        data = {"email": email, "receives_drops": "on", "current_password": PASSWORD}
        response = client.post(reverse("accounts:settings"), data, follow=True)
        page = re.sub(
            r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode().replace(email, "ADDRESS")
        )
        return response.status_code, response.redirect_chain[-1][0], page

    assert answer("other@example.com") == answer("free@example.com")
    assert User.objects.get(pk=user.pk).email == "fan@example.com"
    assert sorted(queued_tasks(redis_client, "important")) == [
        "musicdrops.accounts.tasks.send_address_change_requested_task",
        "musicdrops.accounts.tasks.send_address_change_requested_task",
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


def test_changing_the_address_needs_the_current_password(client, user, redis_client):
    for password, message in [
        ("", "Enter your current password to change your address."),
        ("wrong-password", "That is not your current password."),
    ]:
        data = {"email": "thief@example.com", "receives_drops": "on", "current_password": password}
        response = client.post(reverse("accounts:settings"), data)

        assert response.status_code == 200
        assert message in response.content.decode()
    assert queued_tasks(redis_client, "important") == []  # no link went anywhere
    # Other settings need no password.
    assert client.post(reverse("accounts:settings"), {"email": "fan@example.com"}).status_code == 302


def test_the_old_address_is_told_and_a_password_change_voids_the_move(client, user, redis_client, mailoutbox):
    from musicdrops.accounts.tasks import send_address_change_requested_task, send_email_change_email_task

    data = {"email": "thief@example.com", "receives_drops": "on", "current_password": PASSWORD}
    client.post(reverse("accounts:settings"), data)
    send_address_change_requested_task(user.pk, "thief@example.com")
    send_email_change_email_task(user.pk, "thief@example.com")

    notice, link_email = mailoutbox[-2], mailoutbox[-1]
    assert notice.to == ["fan@example.com"]
    assert "thief@example.com" in notice.body
    assert "change it now" in notice.body
    # The owner changes the password: the link at the other address no longer moves the account.
    user.set_password("a-brand-new-passphrase-9")
    user.save()
    client.get(last_link([link_email]))
    user.refresh_from_db()
    assert user.email == "fan@example.com"


def test_a_password_reset_goes_only_to_a_confirmed_address(client, redis_client):
    User.objects.create_user("unconfirmed@example.com", PASSWORD)

    client.post(reverse("accounts:password_reset"), {"email": "unconfirmed@example.com"})

    assert queued_tasks(redis_client, "important") == []


def test_a_wrong_password_reads_the_same_wherever_it_is_asked_for(client, user):
    wrong = "That is not your current password."
    moving = {"email": "thief@example.com", "receives_drops": "on", "current_password": "nope"}
    changing = {"old_password": "nope", "new_password1": "another-long-one-77", "new_password2": "another-long-one-77"}

    assert wrong in client.post(reverse("accounts:settings"), moving).content.decode()
    assert wrong in client.post(reverse("accounts:delete"), {"password": "nope"}).content.decode()
    assert wrong in client.post(reverse("accounts:password_change"), changing).content.decode()
