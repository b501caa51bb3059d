"""Periodic work is deduplicated per schedule slot.

Our beat stamps every dispatch with the entry's name, the slot (the time the
run was scheduled for; see `slot_for`) and its own identity.
A periodic task built on ``SlotTask`` claims (entry, slot) in the database
before it does anything; a second dispatch of the same slot — two beats, a
lost lock, a zombie from an old release — finds the claim taken, is recorded
with the identity of whoever sent it, and does nothing. A dispatch from a
scheduler that doesn't stamp (Celery's default beat, old code) is recorded
and ignored the same way.
"""

import contextlib
import datetime as dt
import logging
from typing import Any

from celery import Task
from celery.schedules import crontab, schedule
from django.db import IntegrityError, transaction

from musicdrops.lib.logs import log_context

logger = logging.getLogger(__name__)

ENTRY_HEADER = "musicdrops_entry"
SLOT_HEADER = "musicdrops_slot"
SCHEDULER_HEADER = "musicdrops_scheduler"


def slot_for(run_every: object, now: dt.datetime, last_run_at: dt.datetime | None = None) -> dt.datetime:
    """The slot a dispatch belongs to: the same for every beat that dispatches the same run.

    Interval entries: the time the run was due (the last run + the interval),
    taken from the schedule's state in Redis, not from the clock: a standby
    that takes over late still labels the run it catches up with that run's
    slot, and two beats racing for one run agree on it. Crontab entries: the
    minute (cron times are whole minutes, and a failover takes seconds). An
    entry's first ever run: the clock, floored to the interval.
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


def _header(request: Any, name: str) -> Any:
    value = getattr(request, name, None)
    if value is None and isinstance(getattr(request, "headers", None), dict):
        value = request.headers.get(name)
    return value


_task_logs: dict[str, contextlib.ExitStack] = {}


def log_dispatch_start(*, task_id: str, task: Task, **_: Any) -> None:  # type: ignore[type-arg]
    """Celery's task_prerun: a dispatched task's log lines name its entry and slot (see apps.py)."""
    fields = {key: str(value) for key, name in (("entry", ENTRY_HEADER), ("slot", SLOT_HEADER))
              if (value := _header(task.request, name))}  # fmt: skip
    if fields:
        stack = contextlib.ExitStack()
        stack.enter_context(log_context(**fields))
        _task_logs[task_id] = stack


def log_dispatch_end(*, task_id: str, **_: Any) -> None:
    """Celery's task_postrun: the task's log fields end with it."""
    if stack := _task_logs.pop(task_id, None):
        stack.close()


class SlotTask(Task):  # type: ignore[type-arg]
    """Base for tasks that only a scheduler dispatches: runs once per (entry, slot)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from musicdrops.scheduler.models import DuplicateDispatch, ScheduledRun

        request = self.request
        if request.called_directly:  # a plain function call (tests, the shell): no scheduler involved
            return self.run(*args, **kwargs)
        entry, slot_text = _header(request, ENTRY_HEADER), _header(request, SLOT_HEADER)
        scheduler = _header(request, SCHEDULER_HEADER) or {}
        origin = str(getattr(request, "origin", "") or "")
        if not entry or not slot_text:
            DuplicateDispatch.objects.create(
                entry=self.name, task_id=request.id or "", reason=DuplicateDispatch.Reason.FOREIGN_SCHEDULER,
                origin=origin,
            )  # fmt: skip
            logger.error("%s dispatched by a foreign scheduler (origin %s): ignored", self.name, origin or "unknown")
            return None
        try:
            slot = dt.datetime.fromisoformat(slot_text)
        except (TypeError, ValueError):
            logger.error("%s: unreadable slot %r: ignored", self.name, slot_text)
            return None
        try:
            with transaction.atomic():
                ScheduledRun.objects.create(entry=entry, slot=slot, task_id=request.id or "", scheduler=scheduler)
        except IntegrityError:
            first = ScheduledRun.objects.filter(entry=entry, slot=slot).first()
            if first is None or first.task_id != request.id:
                DuplicateDispatch.objects.create(
                    entry=entry, slot=slot, task_id=request.id or "", reason=DuplicateDispatch.Reason.SAME_SLOT,
                    scheduler=scheduler, origin=origin, first_task_id=first.task_id if first else "",
                )  # fmt: skip
                logger.error(
                    "second dispatch of %s for slot %s (scheduler %s, origin %s; first was task %s): ignored",
                    entry, slot.isoformat(), scheduler, origin, first.task_id if first else "?",
                )  # fmt: skip
                return None
            # The same task id: our own message, redelivered after a crash. Carry on.
        return self.run(*args, slot=slot, **kwargs) if self.takes_slot else self.run(*args, **kwargs)

    #: Pass the slot to the task's function as ``slot=`` (e.g. the daily send takes its day from it).
    takes_slot = False
