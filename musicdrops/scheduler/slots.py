"""Periodic work runs once per schedule slot, whoever dispatches it (docs/failures/1-double-scheduler.md)."""

import datetime as dt
import logging
from typing import Any

from celery.schedules import crontab, schedule
from django.db import IntegrityError, transaction

from musicdrops.logs import ENTRY_HEADER, SLOT_HEADER, message_header
from musicdrops.scheduler.models import DuplicateDispatch, ScheduledRun

logger = logging.getLogger(__name__)

SCHEDULER_HEADER = "musicdrops_scheduler"


def slot_for(run_every: object, now: dt.datetime, last_run_at: dt.datetime | None = None) -> dt.datetime:
    """The slot a dispatch belongs to, the same for every beat: when an interval run was due, or a cron run's minute.

    The due time comes from the schedule's state, not the clock: a standby that takes over late agrees on it.
    """
    if isinstance(run_every, schedule) and not isinstance(run_every, crontab):
        if last_run_at is not None:
            return (last_run_at + dt.timedelta(seconds=run_every.seconds)).astimezone(dt.UTC)
        seconds = max(1, int(run_every.seconds))
        epoch = int(now.timestamp())
        return dt.datetime.fromtimestamp(epoch - epoch % seconds, tz=dt.UTC)
    return now.astimezone(dt.UTC).replace(second=0, microsecond=0)


def stamp(*, entry: str, slot: dt.datetime, scheduler: dict[str, Any]) -> dict[str, Any]:
    return {ENTRY_HEADER: entry, SLOT_HEADER: slot.isoformat(), SCHEDULER_HEADER: scheduler}


def slot_claim(request: Any) -> dt.datetime | None:
    """Claim the (entry, slot) ``self.request`` was stamped with; the slot, or None when the task must not run."""
    if request.called_directly:
        return dt.datetime.now(dt.UTC)
    entry, slot_text = message_header(request, ENTRY_HEADER), message_header(request, SLOT_HEADER)
    scheduler = message_header(request, SCHEDULER_HEADER) or {}
    origin, task_id = str(request.origin or ""), request.id or ""
    if not entry or not slot_text:
        DuplicateDispatch.objects.create(
            entry=request.task, task_id=task_id, reason=DuplicateDispatch.Reason.FOREIGN_SCHEDULER, origin=origin
        )
        logger.error("%s dispatched by a foreign scheduler (origin %s): ignored", request.task, origin or "unknown")
        return None
    try:
        slot = dt.datetime.fromisoformat(slot_text)
    except (TypeError, ValueError):
        logger.error("%s: unreadable slot %r: ignored", request.task, slot_text)
        return None
    try:
        with transaction.atomic():
            ScheduledRun.objects.create(entry=entry, slot=slot, task_id=task_id, scheduler=scheduler)
    except IntegrityError:
        first = ScheduledRun.objects.filter(entry=entry, slot=slot).first()
        if first is not None and first.task_id == task_id:
            return slot  # our own message, redelivered after a crash: carry on
        first_task_id = first.task_id if first else ""
        DuplicateDispatch.objects.create(
            entry=entry, slot=slot, task_id=task_id, reason=DuplicateDispatch.Reason.SAME_SLOT,
            scheduler=scheduler, origin=origin, first_task_id=first_task_id,
        )  # fmt: skip
        logger.error(
            "second dispatch of %s for slot %s (scheduler %s, origin %s; first was task %s): ignored",
            entry, slot.isoformat(), scheduler, origin, first_task_id or "?",
        )  # fmt: skip
        return None
    return slot
