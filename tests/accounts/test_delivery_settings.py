"""Settings: when the email comes. Anything out of range is a form error, never a 500."""

import pytest
from django.urls import reverse

from musicdrops.accounts.models import User

pytestmark = pytest.mark.django_db

VALID = {"time_zone": "Asia/Kathmandu", "delivery_hour": "7", "digest": "weekly", "digest_weekday": "4"}


def test_the_delivery_time_and_cadence_are_saved(client, user):
    response = client.post(reverse("accounts:delivery"), VALID)

    assert response.status_code == 302
    saved = User.objects.get(pk=user.pk)
    assert (saved.time_zone, saved.delivery_hour, saved.digest, saved.digest_weekday) == (
        "Asia/Kathmandu",
        7,
        "weekly",
        4,
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": "localtime"}, "time_zone"),
        ({"time_zone": ""}, "time_zone"),
        ({"delivery_hour": "24"}, "delivery_hour"),
        ({"delivery_hour": "-1"}, "delivery_hour"),
        ({"delivery_hour": "eight"}, "delivery_hour"),
        ({"digest": "hourly"}, "digest"),
        ({"digest_weekday": ""}, "digest_weekday"),  # weekly without a weekday
        ({"digest_weekday": "7"}, "digest_weekday"),
    ],
)
def test_bad_values_are_form_errors(client, user, change, field):
    response = client.post(reverse("accounts:delivery"), {**VALID, **change})

    assert response.status_code == 400
    assert field in response.context["delivery_form"].errors
    saved = User.objects.get(pk=user.pk)
    assert (saved.time_zone, saved.delivery_hour, saved.digest) == ("UTC", 8, "daily")
    assert response.context["user"].time_zone == "UTC"  # the page shows what is saved, not the bad value


def test_daily_needs_no_weekday(client, user):
    response = client.post(reverse("accounts:delivery"), {**VALID, "digest": "daily", "digest_weekday": ""})

    assert response.status_code == 302
    assert User.objects.get(pk=user.pk).digest == "daily"


def test_the_settings_page_shows_the_form_and_it_needs_a_login_and_csrf(client, user):
    page = client.get(reverse("accounts:settings")).content.decode()
    assert 'name="time_zone"' in page
    assert 'value="Asia/Kolkata"' in page

    client.logout()
    assert client.post(reverse("accounts:delivery"), VALID)["Location"].startswith(reverse("accounts:login"))


def test_sign_up_takes_the_browsers_time_zone_and_falls_back_to_utc(client):
    for email, zone, expected in [
        ("one@example.com", "America/Sao_Paulo", "America/Sao_Paulo"),
        ("two@example.com", "Not/AZone", "UTC"),
        ("three@example.com", "", "UTC"),
    ]:
        client.post(
            reverse("accounts:sign_up"), {"email": email, "password": "a-long-enough-pass-9", "time_zone": zone}
        )
        assert User.objects.get(email=email).time_zone == expected
