"""Settings offer the canonical time zones, grouped by region; any IANA name a user has stays valid."""

import re

import pytest
from django.urls import reverse

from musicdrops.accounts import zones
from musicdrops.accounts.models import User

pytestmark = pytest.mark.django_db

DELIVERY = {"delivery_hour": "7", "digest": "daily", "digest_weekday": "0"}
ALIASES = ["Africa/Asmera", "America/Atka", "US/Pacific", "Etc/GMT+5", "Asia/Calcutta", "Europe/Kiev", "GMT"]


def offered(choices: zones.Choices) -> list[str]:
    names = []
    for value, label in choices:
        names += [name for name, _ in label] if isinstance(label, list) else [value]
    return names


def selected(page: str, name: str = "time_zone") -> list[str]:
    select = re.search(rf'<select name="{name}".*?</select>', page, re.DOTALL)
    assert select is not None
    return re.findall(r'<option value="([^"]*)" selected>', select.group(0))


def test_only_canonical_zones_are_offered_utc_first_then_grouped_by_region():
    choices = zones.time_zone_choices()
    names = offered(choices)

    assert choices[0] == ("UTC", "UTC")
    groups = [value for value, label in choices if isinstance(label, list)]
    assert groups == [region for region in zones.REGIONS if region in groups]
    assert {"Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific"} <= set(
        groups
    )
    for name in ["Europe/Amsterdam", "Asia/Kolkata", "America/New_York", "America/Argentina/Buenos_Aires"]:
        assert name in names
    for alias in ALIASES:
        assert alias not in names
    assert len(names) == len(set(names)) < 450
    assert set(names) <= zones.time_zone_names()


def test_labels_read_as_places():
    [america] = [
        dict(label) for value, label in zones.time_zone_choices() if isinstance(label, list) and value == "America"
    ]

    assert america["America/New_York"] == "New York"
    assert america["America/Argentina/Buenos_Aires"] == "Argentina / Buenos Aires"


def test_a_stored_legacy_zone_is_still_offered_and_selected(client, user):
    User.objects.filter(pk=user.pk).update(time_zone="US/Pacific")

    page = client.get(reverse("accounts:settings")).content.decode()

    assert selected(page) == ["US/Pacific"]


@pytest.mark.parametrize("name", ALIASES)
def test_every_iana_name_is_still_accepted(client, user, name):
    response = client.post(reverse("accounts:delivery"), {**DELIVERY, "time_zone": name})

    assert response.status_code == 302
    assert User.objects.get(pk=user.pk).time_zone == name


def test_a_hand_edited_zone_is_an_error_and_the_saved_zone_stays_selected(client, user):
    User.objects.filter(pk=user.pk).update(time_zone="Asia/Kathmandu")

    response = client.post(reverse("accounts:delivery"), {**DELIVERY, "time_zone": "Not/AZone"})

    page = response.content.decode()
    assert response.status_code == 400
    assert "Pick your time zone from the list." in page
    assert selected(page) == ["Asia/Kathmandu"]
    assert User.objects.get(pk=user.pk).time_zone == "Asia/Kathmandu"


def test_the_delivery_address_answers_a_get_with_the_settings_page(client, user):
    response = client.get(reverse("accounts:delivery"))

    assert response.status_code == 302
    assert response.headers["Location"] == reverse("accounts:settings")


def test_the_weekday_is_labelled_for_the_weekly_email_and_marked_to_hide_when_daily(client, user):
    page = client.get(reverse("accounts:settings")).content.decode()

    assert "On (weekly)" not in page
    assert "Day of the weekly email" in page
    assert 'class="field field-digest_weekday"' in page
