"""How long the ledger keeps its rows: a few batches an hour, so it stays the size of its window (docs/ledger.md).

A release counts as new only within NEW_FOR_DAYS_WEEKLY days of its date, so a row older than that can never decide
a send again: dropping it keeps "each release at most once" true.
"""

import datetime as dt
import time

from django.conf import settings
from django.utils import timezone

from musicdrops.drops.fanout import NEW_FOR_DAYS_WEEKLY
from musicdrops.drops.models import Delivery, DropSend

BATCH = 5000


def ledger_trim(*, budget_seconds: float) -> int:
    """Delete deliveries (their releases with them) and sends older than DROPS_KEEP_DAYS, oldest first; rows deleted."""
    cutoff = timezone.now() - dt.timedelta(days=max(settings.DROPS_KEEP_DAYS, NEW_FOR_DAYS_WEEKLY + 1))
    deadline = time.monotonic() + budget_seconds
    deleted = 0
    for old in (Delivery.objects.filter(queued_at__lt=cutoff), DropSend.objects.filter(started_at__lt=cutoff)):
        # Ids grow with time: along the primary key the oldest rows come first, so a batch reads about itself.
        while time.monotonic() < deadline and (batch := list(old.order_by("pk").values_list("pk", flat=True)[:BATCH])):
            deleted += old.model.objects.filter(pk__in=batch).delete()[0]
    return deleted
