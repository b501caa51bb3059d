"""Every admin page a superuser can open answers 200, with data in it; the app's records stay read-only."""

import datetime as dt

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog.models import Artist, Follow, ImportJob
from musicdrops.drops.models import Delivery, DropSend

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(client):
    user = User.objects.create_superuser("root@example.com", "pw-root-1234")
    client.force_login(user)
    fan = User.objects.create_user("fan@example.com", "long-enough-password")
    artist = Artist.objects.create(mbid="00000000-0000-4000-8000-000000000001", name="Sigur Rós")
    Follow.objects.create(user=fan, artist=artist)
    ImportJob.objects.create(user=fan, source="names", query="Sigur Rós")
    slot = timezone.now().replace(minute=0, second=0, microsecond=0)
    DropSend.objects.create(slot=slot)
    Delivery.objects.create(
        user=fan, slot=slot, day=slot.date(), period=slot.date().isoformat(), lease_until=slot + dt.timedelta(hours=1)
    )
    return user


def test_every_registered_model_has_a_list_and_a_detail_page_that_open(client, root):
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        listing = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert listing.status_code == 200, opts.label
        first = model_admin.get_queryset(listing.wsgi_request).first()
        if first is not None and opts.model_name != "schedulercontrol":
            detail = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk]))
            assert detail.status_code == 200, opts.label


def test_artists_follows_imports_and_deliveries_are_in_the_admin(client, root):
    index = client.get(reverse("admin:index")).content.decode()

    for name in ("Artists", "Follows", "Import jobs", "Deliveries"):
        assert name in index
    artists = client.get(reverse("admin:catalog_artist_changelist"), {"q": "Sigur"}).content.decode()
    assert "Sigur Rós" in artists


def test_deliveries_cannot_be_edited_by_hand(client, root):
    delivery = Delivery.objects.get()

    url = reverse("admin:drops_delivery_change", args=[delivery.pk])
    client.post(url, {"status": "sent"})

    delivery.refresh_from_db()
    assert delivery.status == "due"
    assert client.get(reverse("admin:drops_delivery_add")).status_code == 403
