import datetime as dt
import os
import socket
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from musicdrops.drops import services
from musicdrops.drops.tasks import queue_chunk, send_music_drops_task
from musicdrops.scheduler import slots


class Command(BaseCommand):
    help = (
        "Queue the daily send for a day (default: today, UTC), exactly as the beat does; "
        "or, with --resume, queue whoever is still due for that day."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--date", help="YYYY-MM-DD (default: today)")
        parser.add_argument(
            "--resume",
            action="store_true",
            help="recovery: queue everyone still due for the day and not being sent right now (never a duplicate)",
        )

    def handle(self, *args: Any, date: str | None, resume: bool, **options: Any) -> None:
        try:
            day = dt.date.fromisoformat(date) if date else dt.datetime.now(dt.UTC).date()
        except ValueError:
            raise CommandError(f"--date must look like 2026-11-21, not {date!r}") from None
        if resume:
            queued = services.drops_resume(day=day, queue=queue_chunk)
            self.stdout.write(f"resumed the send for {day}: {queued} users queued")
            return
        # The slot is the day itself: a second run for the same day is
        # recognised as a duplicate and does nothing.
        slot = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        headers = slots.stamp(
            entry="send-music-drops",
            slot=slot,
            scheduler={"command": "send_music_drops", "host": socket.gethostname(), "pid": os.getpid()},
        )
        result = send_music_drops_task.apply_async(kwargs={"day": day.isoformat()}, headers=headers)
        self.stdout.write(f"queued the send for {day} (task {result.id})")
