import getpass
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from musicdrops.scheduler import services


def _shell_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a container user with no name
        return "unknown"


class Command(BaseCommand):
    help = (
        "Pause every periodic entry (before a deploy), or resume with --resume. Takes effect on the beat's "
        "next tick, without a restart; entries that came due meanwhile run once on resume."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--resume", action="store_true", help="resume instead of pausing")
        parser.add_argument("--reason", default="", help='shown in scheduler_status and the admin, e.g. "deploy v43"')
        parser.add_argument("--by", default="", help="who is asking (default: the shell user)")

    def handle(self, *args: Any, resume: bool, reason: str, by: str, **options: Any) -> None:
        by = by or f"{_shell_user()} (manage.py)"
        if resume:
            resumed = services.schedule_resume(by=by)
            self.stdout.write("schedule resumed" if resumed else "the schedule was not paused")
        else:
            paused = services.schedule_pause(by=by, reason=reason)
            self.stdout.write("schedule paused" if paused else "the schedule was already paused")
