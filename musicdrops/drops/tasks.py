import datetime as dt
import logging
from smtplib import SMTPException

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError
from redis import RedisError

from musicdrops.drops import services
from musicdrops.scheduler.slots import SlotTask

logger = logging.getLogger(__name__)


def _day(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


@shared_task(base=SlotTask, takes_slot=True)
def send_music_drops_task(day: str | None = None, *, slot: dt.datetime | None = None) -> int:
    """The daily send, as the beat dispatches it: fan out the due users in chunks on the regular queue.

    Safe twice: SlotTask runs it once per schedule slot (a second dispatch is
    recorded and ignored), and whatever runs twice anyway is stopped per user
    by the delivery ledger.
    """
    when = _day(day) if day else (slot or dt.datetime.now(dt.UTC)).date()
    if when is None:
        logger.error("send_music_drops_task: unreadable day %r: nothing sent", day)
        return 0
    chunks = services.drops_fan_out(day=when)
    for chunk in chunks:
        send_drop_chunk_task.apply_async(kwargs={"day": when.isoformat(), "user_ids": chunk})
    logger.info("drops for %s: %d users in %d chunks", when, sum(map(len, chunks)), len(chunks))
    return len(chunks)


@shared_task(
    bind=True,
    # The mail server, Redis or PostgreSQL gone for a moment: try again later
    # (the claims wait for this task id). Not retrying would leave the
    # chunk's users without their email for the day.
    autoretry_for=(SMTPException, OSError, RedisError, OperationalError, InterfaceError),
    retry_backoff=5,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=10,
)
def send_drop_chunk_task(self: Task, day: str, user_ids: list[int]) -> int:  # type: ignore[type-arg]
    """Send one chunk of the daily drops.

    Safe twice or concurrently: each (user, day) is claimed in the ledger
    before sending. A retry or a redelivery of this same task (same task id)
    takes over its own unfinished claims; a duplicate task cannot until the
    claims' lease has expired, and nobody can once a delivery is marked sent.
    """
    when = _day(day)
    if when is None or not isinstance(user_ids, list) or not all(isinstance(u, int) for u in user_ids):
        logger.error("send_drop_chunk_task: malformed arguments day=%r user_ids=%.200r: ignored", day, user_ids)
        return 0
    figures = services.drop_chunk_send(day=when, user_ids=user_ids, task_id=self.request.id or "")
    return figures.sent
