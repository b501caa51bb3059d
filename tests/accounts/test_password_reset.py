import pytest
from django.urls import reverse
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.accounts.tasks import send_password_reset_email_task
from tests.helpers import last_link, queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)

OLD = "correct-horse-battery-staple"
NEW = "a-brand-new-passphrase-42"


@pytest.fixture
def user():
    return User.objects.create_user("fan@example.com", OLD, email_verified_at=timezone.now())


def test_reset_is_queued_on_the_important_queue(client, user, redis_client):
    response = client.post(reverse("accounts:password_reset"), {"email": "FAN@example.com"})

    assert response.headers["Location"] == reverse("accounts:password_reset_done")
    assert queued_tasks(redis_client, "important") == ["musicdrops.accounts.tasks.send_password_reset_email_task"]


def test_unknown_address_gets_the_same_answer_and_no_email(client, redis_client):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})

    assert response.headers["Location"] == reverse("accounts:password_reset_done")
    assert queued_tasks(redis_client, "important") == []


def test_the_emailed_link_sets_a_new_password_once(client, user, mailoutbox):
    send_password_reset_email_task(user.pk)
    link = last_link(mailoutbox)

    form_page = client.get(link, follow=True)
    assert form_page.context["validlink"]
    client.post(form_page.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})

    assert client.login(username="fan@example.com", password=NEW)
    assert not client.get(link, follow=True).context["validlink"]


def test_reset_requests_are_throttled_per_address(client, user, redis_client, settings):
    settings.ACCOUNT_EMAILS_PER_HOUR = 2

    for _ in range(4):
        client.post(reverse("accounts:password_reset"), {"email": "fan@example.com"})

    assert len(queued_tasks(redis_client, "important")) == 2
