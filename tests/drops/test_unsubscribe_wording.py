"""The unsubscribe pages name the email without its cadence: the reader may get it daily or weekly."""

import pytest
from django.test import Client
from django.urls import reverse

from musicdrops.accounts.zones import WEEKLY
from musicdrops.drops.emails import unsubscribe_token

pytestmark = pytest.mark.django_db


def test_a_weekly_reader_is_not_told_daily_when_unsubscribing(user):
    user.digest = WEEKLY
    user.save()
    url = reverse("drops:unsubscribe", args=[unsubscribe_token(user.pk)])
    anonymous = Client()  # from the email: no session

    pages = [anonymous.get(url), anonymous.post(url), anonymous.post(url, {"resubscribe": "1"})]

    for page in pages:
        assert "new-music email" in page.content.decode()
        assert "daily" not in page.content.decode()
