"""The ledger keeps DROPS_KEEP_DAYS (musicdrops/drops/retention.py, docs/ledger.md)."""

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from musicdrops.catalog.models import Follow
from musicdrops.drops import retention
from musicdrops.drops.models import DeliveredRelease, Delivery, DropSend
from tests.drops.test_send import artist, listener, queue_only, release, send

pytestmark = pytest.mark.django_db(transaction=True)


def test_rows_past_the_window_go_with_their_releases_and_recent_ones_stay(settings):
    settings.DROPS_KEEP_DAYS = 60
    fan = listener()
    band = artist("Band", 1)
    Follow.objects.create(user=fan, artist=band)
    release(band, "Old")
    queue_only()
    long_ago = timezone.now() - dt.timedelta(days=61)
    Delivery.objects.update(queued_at=long_ago, status="sent")
    DropSend.objects.update(started_at=long_ago)
    recent = Delivery.objects.create(
        user=listener("other@example.com"), slot=timezone.now(), day=dt.date.today(), period="x",
        lease_until=timezone.now(), status="sent",
    )  # fmt: skip

    deleted = retention.ledger_trim(budget_seconds=10)

    assert list(Delivery.objects.all()) == [recent]
    assert not DeliveredRelease.objects.exists()
    assert not DropSend.objects.exists()
    assert deleted == 1 + 1 + 24  # the delivery, its release, the day's sends


def test_a_release_whose_record_was_trimmed_is_never_sent_again(settings):
    fan = listener()
    band = artist("Band", 1)
    Follow.objects.create(user=fan, artist=band)
    old_day = dt.date(2026, 6, 1)
    release(band, "Old", old_day)
    assert send(old_day).sent == 1
    Delivery.objects.update(queued_at=timezone.now() - dt.timedelta(days=settings.DROPS_KEEP_DAYS + 1))
    retention.ledger_trim(budget_seconds=10)
    assert not DeliveredRelease.objects.exists()

    later = old_day + dt.timedelta(days=settings.DROPS_KEEP_DAYS + 1)
    assert send(later).sent == 0  # no longer new: its date is far behind


def test_the_window_never_drops_below_what_decides_a_send(settings):
    settings.DROPS_KEEP_DAYS = 1
    Delivery.objects.create(
        user=listener(), slot=timezone.now(), day=dt.date.today(), period="x", lease_until=timezone.now(),
        queued_at=timezone.now() - dt.timedelta(days=10), status="sent",
    )  # fmt: skip
    assert retention.ledger_trim(budget_seconds=10) == 0


def test_the_trim_runs_every_hour():
    entry = settings.CELERY_BEAT_SCHEDULE["trim-drops-ledger"]
    assert entry["task"] == "musicdrops.drops.tasks.trim_drops_ledger_task"
    assert entry["schedule"].minute == {41}
