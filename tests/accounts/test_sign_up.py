import pytest
from django.test import Client
from django.urls import reverse

from musicdrops.accounts.models import User
from tests.helpers import queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)

GOOD_PASSWORD = "correct-horse-battery-staple"


def sign_up(client: Client, email: str, password: str = GOOD_PASSWORD):
    return client.post(reverse("accounts:sign_up"), {"email": email, "password": password})


def test_sign_up_queues_verification_on_important_queue(client, redis_client):
    response = sign_up(client, "  Fan@Example.COM ")

    assert response.status_code == 302
    assert response.headers["Location"] == reverse("accounts:sign_up_done")
    user = User.objects.get()
    assert user.email == "fan@example.com"
    assert not user.email_verified
    assert queued_tasks(redis_client, "important") == ["musicdrops.accounts.tasks.send_verification_email_task"]
    assert queued_tasks(redis_client, "regular") == []


def test_sign_up_answers_the_same_for_a_taken_address_and_tells_its_owner(redis_client, mailoutbox):
    from musicdrops.accounts.tasks import send_address_in_use_email_task

    def answer(email: str) -> tuple[int, dict[str, str], str, set[str], bool]:
        client = Client()
        response = sign_up(client, email)
        page = client.get(response.headers["Location"])
        headers = {k: v for k, v in response.headers.items() if k.lower() not in {"date"}}
        return (
            response.status_code,
            headers,
            page.content.decode(),
            set(client.cookies),
            "_auth_user_id" in client.session,
        )

    User.objects.create_user("fan@example.com", GOOD_PASSWORD)

    assert answer("FAN@example.com") == answer("new.fan@example.com")
    assert User.objects.count() == 2
    assert not User.objects.get(email="fan@example.com").check_password("x")  # the owner's account is untouched
    queued = queued_tasks(redis_client, "important")
    assert sorted(queued) == [
        "musicdrops.accounts.tasks.send_address_in_use_email_task",
        "musicdrops.accounts.tasks.send_verification_email_task",
    ]
    send_address_in_use_email_task(User.objects.get(email="fan@example.com").pk)
    assert mailoutbox[-1].to == ["fan@example.com"]
    assert "tried to sign up" in str(mailoutbox[-1].body)


@pytest.mark.parametrize("password", ["short", "12345678901", "password123", "fan@example.com"])
def test_weak_passwords_are_refused(client, password):
    response = sign_up(client, "fan@example.com", password)

    assert response.status_code == 200
    assert User.objects.count() == 0


@pytest.mark.parametrize("email", ["", "not-an-email", "a@b", "x" * 300 + "@example.com"])
def test_bad_addresses_get_a_form_error_not_a_500(client, email):
    response = sign_up(client, email)

    assert response.status_code == 200
    assert User.objects.count() == 0


def test_html_in_the_address_is_escaped_on_the_page(client):
    response = sign_up(client, '"><script>alert(1)</script>@example.com')

    assert b"<script>alert(1)</script>" not in response.content


def test_forms_refuse_a_post_without_csrf_token():
    client = Client(enforce_csrf_checks=True)

    response = sign_up(client, "fan@example.com")

    assert response.status_code == 403
    assert User.objects.count() == 0


def test_login_is_case_insensitive_and_logout_needs_post(client):
    User.objects.create_user("fan@example.com", GOOD_PASSWORD)

    response = client.post(reverse("accounts:login"), {"username": "Fan@Example.com", "password": GOOD_PASSWORD})
    assert response.status_code == 302

    assert client.get(reverse("accounts:logout")).status_code == 405
    client.post(reverse("accounts:logout"))
    assert client.get(reverse("front:dashboard")).status_code == 302


def test_wrong_password_shows_an_error(client):
    User.objects.create_user("fan@example.com", GOOD_PASSWORD)

    response = client.post(reverse("accounts:login"), {"username": "fan@example.com", "password": "nope"})

    assert response.status_code == 200
    assert "correct email" in response.content.decode()
