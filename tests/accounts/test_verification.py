import pytest
from django.test import override_settings
from django.urls import reverse

from musicdrops.accounts import services
from musicdrops.accounts.models import User
from musicdrops.accounts.tasks import send_verification_email_task
from musicdrops.accounts.tokens import make_verification_token
from tests.helpers import last_link, queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def user():
    return User.objects.create_user("fan@example.com", "correct-horse-battery-staple")


def test_the_emailed_link_verifies_the_address_even_when_logged_out(client, user, mailoutbox):
    send_verification_email_task(user.pk)

    assert mailoutbox[-1].to == ["fan@example.com"]
    assert mailoutbox[-1].subject == "Confirm your email address"
    assert mailoutbox[-1].alternatives[0].mimetype == "text/html"
    response = client.get(last_link(mailoutbox))

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.email_verified


def test_a_verified_user_gets_no_more_verification_emails(user, mailoutbox):
    services.user_verify_email(token=make_verification_token(user))

    send_verification_email_task(user.pk)

    assert mailoutbox == []


def test_clicking_twice_keeps_the_first_verification_time(client, user):
    token = make_verification_token(user)
    client.get(reverse("accounts:verify_email", args=[token]))
    first = User.objects.get().email_verified_at

    client.get(reverse("accounts:verify_email", args=[token]))

    assert User.objects.get().email_verified_at == first


@pytest.mark.parametrize("token", ["garbage", "a" * 500, "eyJ1Ijo1fQ:1abc:xyz"])
def test_a_bad_link_gets_a_clear_page_not_a_500(client, token):
    response = client.get(f"/accounts/verify/{token}/")

    assert response.status_code == 400
    assert "This link doesn't work" in response.content.decode()


def test_a_link_of_another_shape_is_no_page_at_all(client):
    assert client.get("/accounts/verify/%00/").status_code == 404


def test_a_move_happens_when_the_new_address_confirms_and_voids_older_links(client, user):
    old_token = make_verification_token(user)
    move = make_verification_token(user, new_email="new@example.com")
    assert services.user_update_settings(user=user, email="New@example.com", receives_drops=True) == "new@example.com"
    assert User.objects.get().email == "fan@example.com"  # not before the new address confirms

    assert client.get(reverse("accounts:verify_email", args=[move])).status_code == 302
    assert (User.objects.get().email, User.objects.get().email_verified) == ("new@example.com", True)
    assert client.get(reverse("accounts:verify_email", args=[move])).status_code == 302  # a second click: the same

    response = client.get(reverse("accounts:verify_email", args=[old_token]))
    assert response.status_code == 400


@override_settings(EMAIL_VERIFICATION_TIMEOUT=-1)
def test_an_expired_link_is_refused(client, user):
    response = client.get(reverse("accounts:verify_email", args=[make_verification_token(user)]))

    assert response.status_code == 400


def test_resend_is_throttled_per_address(client, user, redis_client, settings):
    settings.ACCOUNT_EMAILS_PER_HOUR = 3
    client.force_login(user)

    for _ in range(5):
        client.post(reverse("accounts:resend_verification"))

    assert len(queued_tasks(redis_client, "important")) == 3


def test_resend_redirects_only_to_this_site(client, user):
    client.force_login(user)

    response = client.post(reverse("accounts:resend_verification"), {"next": "https://evil.example.com/"})

    assert response.headers["Location"] == reverse("front:dashboard")
