"""The words about the email follow the reader's cadence; a visitor is told both."""

import pytest
from django.urls import reverse

from musicdrops.accounts.zones import WEEKLY

pytestmark = pytest.mark.django_db


def test_a_weekly_reader_reads_weekly_in_the_menu_the_settings_and_the_footer(client, user):
    user.digest = WEEKLY
    user.save()

    page = client.get(reverse("accounts:settings")).content.decode()

    assert ">This week's email</a>" in page
    assert "Send me the weekly email" in page
    assert "One email a week" in page
    assert "once a week" in page  # the footer
    for daily in ("Today's email", "daily email", "One email a day", "once a day"):
        assert daily not in page, daily


def test_a_daily_reader_reads_daily(client, user):
    page = client.get(reverse("accounts:settings")).content.decode()

    assert ">Today's email</a>" in page
    assert "Send me the daily email" in page
    assert "One email a day" in page
    assert "once a day" in page
    assert "This week's email" not in page


def test_a_visitor_is_told_both_cadences_on_the_home_page_and_in_the_footer(client):
    page = client.get(reverse("front:home")).content.decode()

    assert page.count("once a day or once a week, at the hour you pick") == 2
