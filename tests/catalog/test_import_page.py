"""The imports page: a badge per state, the start message gone once it is over, the user name kept."""

import pytest
from django.urls import reverse
from django.utils import timezone

from musicdrops.catalog.models import ImportJob

pytestmark = pytest.mark.django_db


def test_each_state_has_its_own_badge(client, user):
    ImportJob.objects.create(user=user, source="names", query="A", status="failed", finished_at=timezone.now())
    ImportJob.objects.create(user=user, source="names", query="B", status="done", finished_at=timezone.now())
    ImportJob.objects.create(user=user, source="names", query="C", status="running")

    page = client.get(reverse("catalog:imports")).content.decode()

    for state in ("failed", "done", "running"):
        assert f'class="tag state-{state}"' in page


def test_the_start_message_is_marked_to_go_when_the_import_ends(client, user, redis_client):
    page = client.post(reverse("catalog:imports"), {"names": "Sigur Rós"}, follow=True).content.decode()

    assert 'class="message until-done success"' in page


def test_the_listenbrainz_name_stays_in_its_field_after_the_import(client, user):
    ImportJob.objects.create(
        user=user, source="listenbrainz", query="nobody-here", min_listens=3, status="failed", message="No such user"
    )

    page = client.get(reverse("catalog:imports")).content.decode()

    assert 'value="nobody-here"' in page
    assert 'name="min_listens" value="3"' in page
