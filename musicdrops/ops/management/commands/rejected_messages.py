"""List, acknowledge, remove or requeue the messages workers refused and kept (docs/failures/6-pickle.md)."""

import json
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from musicdrops import rejected_messages
from musicdrops.ops import health

PREVIEW_CHARS = 120  # of each body in the listing; --show prints one whole (as kept)


class Command(BaseCommand):
    help = "List the messages workers refused (newest first, with why); --acknowledge, --remove, --clear or --requeue."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--limit", type=int, default=20, help="list at most this many (default 20)")
        parser.add_argument("--show", metavar="ID", help="print one kept message in full, as JSON")
        actions = parser.add_mutually_exclusive_group()
        actions.add_argument(
            "--acknowledge", action="store_true", help="seen: /healthz stops reporting them; they stay listed"
        )
        actions.add_argument("--remove", nargs="+", metavar="ID", help="remove these kept messages")
        actions.add_argument("--clear", action="store_true", help="remove every kept message")
        actions.add_argument(
            "--requeue",
            action="store_true",
            help="publish again to its queue each whole JSON task message (an unknown task or arguments a deploy "
            "has since made runnable), and remove it",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["acknowledge"]:
            rejected_messages.rejected_messages_acknowledge()
            self.stdout.write("Acknowledged: /healthz no longer reports the messages kept so far.")
        elif options["remove"]:
            removed = rejected_messages.rejected_messages_remove(ids=options["remove"])
            self.stdout.write(f"Removed {removed} of {len(options['remove'])}.")
        elif options["clear"]:
            self.stdout.write(f"Removed {rejected_messages.rejected_messages_clear()}.")
        elif options["requeue"]:
            requeued, left = rejected_messages.rejected_messages_requeue(queues=health.queue_names())
            self.stdout.write(f"Requeued {requeued}; {left} left kept (not whole JSON task messages of our queues).")
        elif options["show"]:
            self._show(options["show"])
        else:
            self._list(limit=options["limit"])

    def _list(self, *, limit: int) -> None:
        if limit < 1:
            raise CommandError("--limit must be 1 or more")
        counts = rejected_messages.rejected_messages_counts()
        unseen = max(0, counts.total - counts.acknowledged)
        self.stdout.write(f"{counts.kept} kept ({counts.total} ever, {unseen} since the last --acknowledge).")
        for kept in rejected_messages.rejected_messages_list(limit=limit):
            task = kept.task or "-"
            self.stdout.write(f"{kept.id or '-'}  {kept.kept_at}  queue {kept.queue or '-'}  task {task[:80]}")
            self.stdout.write(f"    why: {kept.error}")
            body = kept.body if len(kept.body) <= PREVIEW_CHARS else f"{kept.body[:PREVIEW_CHARS]}…"
            self.stdout.write(f"    {kept.content_type or 'no content type'}, {kept.body_size} bytes: {body!r}")
        if counts.kept > limit:
            self.stdout.write(f"… and {counts.kept - limit} older (--limit).")

    def _show(self, wanted: str) -> None:
        for kept in rejected_messages.rejected_messages_list(limit=settings.REJECTED_MESSAGES_KEPT):
            if kept.id == wanted:
                self.stdout.write(json.dumps(json.loads(kept.raw), indent=2))  # ours, so JSON (it has an id)
                return
        raise CommandError(f"No kept message {wanted!r}.")
