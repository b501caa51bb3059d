"""The daily send: fan out over the users who are due, then send chunk by chunk."""

import contextlib
import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass

import redis
from django import db
from django.core.mail import mailers
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.drops import emails, ledger, selectors
from musicdrops.lib import mail
from musicdrops.lib.fastmail import PrebuiltEmail

logger = logging.getLogger(__name__)

# Users per chunk task: big enough that per-task costs (queries, one SMTP
# connection) are spread thin, small enough that a chunk finishes in seconds.
CHUNK_SIZE = 500
SEND_THREADS = 2
FLUSH_EVERY = 100  # "sent" marks go from Redis to the ledger this often (and at the end)


@dataclass
class ChunkFigures:
    due: int = 0
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    seconds: float = 0.0


def drops_fan_out(*, day: dt.date, chunk_size: int = CHUNK_SIZE) -> list[list[int]]:
    """The due users for ``day``, in chunks of ids."""
    ids = selectors.due_user_ids(day=day)
    return [ids[i : i + chunk_size] for i in range(0, len(ids), chunk_size)]


def _send_all(
    items: list[tuple[int, int, list[emails.DropRelease]]],
    *,
    renderer: emails.DropRenderer,
    addresses: dict[int, str],
    task_id: str,
    day: dt.date,
    marks: redis.Redis,
) -> tuple[int, int]:
    """Send these users' emails on one SMTP connection, recording each as it goes. Returns (sent, failed)."""
    sent = failed = 0
    unflushed: list[int] = []
    connection = mailers.default

    def build(item: tuple[int, int, list[emails.DropRelease]]) -> PrebuiltEmail:
        user_id, _, releases = item
        return renderer.build(user_id=user_id, email=addresses[user_id], releases=releases)

    connection.open()
    try:
        for (_, delivery_id, _), error in mail.send_each(connection, items, build):
            if error is not None:
                # This address, for good (a 5xx, or an address we cannot encode): others go on.
                ledger.delivery_mark_failed(delivery_id=delivery_id, task_id=task_id, error=str(error))
                failed += 1
                continue
            # The one window left: the server accepted the message and we die
            # before this line. The retry then sends it again, with the same
            # Message-ID, which lets the receiving side drop the repeat.
            ledger.delivery_mark_sent(day=day, delivery_id=delivery_id, client=marks)
            sent += 1
            unflushed.append(delivery_id)
            if len(unflushed) >= FLUSH_EVERY:
                ledger.sent_marks_flush(day=day, delivery_ids=unflushed, client=marks)
                unflushed.clear()
    finally:
        connection.close()
        ledger.sent_marks_flush(day=day, delivery_ids=unflushed, client=marks)
    return sent, failed


def drop_chunk_send(*, day: dt.date, user_ids: list[int], task_id: str) -> ChunkFigures:
    """Send the drops of these users for ``day``: claim, build, send on one connection, record each.

    Safe to run twice or concurrently: a user's (user, day) delivery is
    claimed before sending, and only the task holding the claim sends.
    """
    started = time.monotonic()
    figures = ChunkFigures()
    wanted = selectors.new_releases(user_ids=user_ids, day=day)
    # Claims still open for the day (an earlier attempt of this task, or one
    # whose lease ran out): their releases are already held in the ledger.
    for user_id in ledger.open_claim_user_ids(day=day, user_ids=user_ids):
        wanted.setdefault(user_id, [])
    figures.due = len(wanted)
    claimed = ledger.deliveries_claim(day=day, wanted=wanted, task_id=task_id, now=timezone.now())
    figures.claimed = len(claimed)
    if not claimed:
        figures.seconds = time.monotonic() - started
        return figures
    shown = selectors.drop_releases(release_ids={r for _, releases in claimed.values() for r in releases})
    addresses = dict(User.objects.filter(pk__in=list(claimed)).values_list("pk", "email"))

    renderer = emails.DropRenderer(day=day)
    work = [(user_id, delivery, [shown[r] for r in ids if r in shown]) for user_id, (delivery, ids) in claimed.items()]
    # Each email waits on the mail server and on the database about as long
    # as it computes: two threads, each with its own SMTP and database
    # connection, keep a core busy while the other waits.
    slices = [work[i::SEND_THREADS] for i in range(SEND_THREADS)]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def send_slice(items: list[tuple[int, int, list[emails.DropRelease]]], marks: redis.Redis) -> None:
        try:
            sent, failed = _send_all(
                items, renderer=renderer, addresses=addresses, task_id=task_id, day=day, marks=marks
            )
            with lock:
                figures.sent += sent
                figures.failed += failed
        except BaseException as error:
            errors.append(error)
        finally:
            if threading.current_thread() is not threading.main_thread():
                db.connections.close_all()  # this thread's own connection

    # Each sender's Redis connection is taken here, before the threads start:
    # the process's Redis client is made on first use, and two threads making
    # it at once make two, one of which closes its connections when dropped.
    with contextlib.ExitStack() as stack:
        marks = [stack.enter_context(ledger.marks_connection()) for _ in slices]
        threads = [
            threading.Thread(target=send_slice, args=(part, m))
            for part, m in zip(slices[1:], marks[1:], strict=True)
            if part
        ]
        for thread in threads:
            thread.start()
        send_slice(slices[0], marks[0])
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]  # the task retries; everything sent so far is recorded
    figures.seconds = time.monotonic() - started
    logger.info("drops for %s, task %s: %s", day, task_id, figures)
    return figures
