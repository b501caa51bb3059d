import datetime as dt
import os
import socket
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from musicdrops.drops import recovery
from musicdrops.drops.tasks import queue_chunk, send_music_drops_task
from musicdrops.scheduler import slots
from musicdrops.scheduler.models import ScheduledRun
from musicdrops.scheduler.schedule import SEND_ENTRY


class Command(BaseCommand):
    help = (
        "Queue one hourly slot's send exactly as the beat does (--slot), or send a whole UTC day's (--date, "
        "default today: a backfill); with --resume, queue whoever is still due in the day's slots so far."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--date", help="YYYY-MM-DD, a UTC day (default: today)")
        parser.add_argument("--slot", help="YYYY-MM-DDTHH:00Z, one hourly slot, as the beat dispatches it")
        parser.add_argument(
            "--resume",
            action="store_true",
            help="recovery: queue everyone still due for the day and not being sent right now (never a duplicate)",
        )

    def handle(self, *args: Any, date: str | None, slot: str | None, resume: bool, **options: Any) -> None:
        if slot is not None:
            if date is not None or resume:
                raise CommandError("--slot goes alone: it is one hour's send, as the beat dispatches it")
            self._send_slot(_slot(slot), what=f"slot {slot}")
            return
        try:
            day = dt.date.fromisoformat(date) if date else dt.datetime.now(dt.UTC).date()
        except ValueError:
            raise CommandError(f"--date must look like 2026-11-21, not {date!r}") from None
        if resume:
            queued = recovery.drops_resume(day=day, queue=queue_chunk)
            self.stdout.write(f"resumed the send for {day}: {queued} users queued")
            return
        # Safe to run again: a user's row for the period is inserted once, and only whoever inserted it queues it.
        queued = recovery.drops_start_day(day=day, queue=queue_chunk)
        self.stdout.write(f"started the send for {day}: {queued} users queued")

    def _send_slot(self, slot: dt.datetime, *, what: str) -> None:
        # A slot that already ran would be refused by the worker, a duplicate for /healthz to report: say so here.
        done = ScheduledRun.objects.filter(entry=SEND_ENTRY, slot=slot).first()
        if done is not None:
            self.stdout.write(
                f"the send for {what} already ran (task {done.task_id}, taken {done.received_at:%Y-%m-%d %H:%M} UTC):"
                " nothing queued. To queue whoever is still due, use --resume."
            )
            return
        headers = slots.stamp(
            entry=SEND_ENTRY,
            slot=slot,
            scheduler={"command": "send_music_drops", "host": socket.gethostname(), "pid": os.getpid()},
        )
        result = send_music_drops_task.apply_async(headers=headers)
        self.stdout.write(f"queued the send for {what} (task {result.id})")


def _slot(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or moment.utcoffset() or (moment.minute, moment.second) != (0, 0):
        raise CommandError(f"--slot must be an hour on the hour in UTC, like 2026-12-02T07:00Z, not {text!r}")
    return moment.astimezone(dt.UTC)
