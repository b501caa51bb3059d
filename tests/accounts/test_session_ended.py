"""A form sent after the session ended (logged out in another tab) says so, saves nothing, and comes back."""

import pytest
from django.urls import reverse

from musicdrops.accounts.models import User

pytestmark = pytest.mark.django_db

SESSION_ENDED = "You were logged out, so that change was not saved. Log in and make it again."


def test_a_change_sent_after_logging_out_asks_to_log_in_and_return_to_the_page(client, user):
    settings_url = reverse("accounts:settings")
    client.logout()

    response = client.post(
        reverse("accounts:delivery"),
        {"time_zone": "Asia/Kathmandu", "delivery_hour": "7", "digest": "daily"},
        headers={"referer": f"http://testserver{settings_url}"},
    )

    assert response.status_code == 302
    assert response.headers["Location"] == f"{reverse('accounts:login')}?next={settings_url}"
    assert SESSION_ENDED in client.get(response.headers["Location"]).content.decode()
    assert User.objects.get(pk=user.pk).time_zone == "UTC"


def test_without_a_page_of_ours_to_go_back_to_it_asks_to_log_in_alone(client, user):
    client.logout()

    response = client.post(reverse("feeds:reset"), headers={"referer": "https://elsewhere.example/"})

    assert response.headers["Location"] == reverse("accounts:login")  # not the form's address: a GET there is a 405


def test_a_page_opened_while_logged_out_asks_to_log_in_without_blame(client):
    response = client.get(reverse("accounts:settings"), follow=True)

    assert SESSION_ENDED not in response.content.decode()
