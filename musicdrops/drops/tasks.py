import datetime as dt
import logging
import random
import uuid
from smtplib import SMTPException
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError
from kombu.exceptions import OperationalError as BrokerError
from redis import RedisError

from musicdrops.drops import services
from musicdrops.drops.delivery_time import slot_of
from musicdrops.drops.mailer import TryLater
from musicdrops.scheduler.slots import slot_claim

logger = logging.getLogger(__name__)

TRANSIENT = (SMTPException, OSError, DatabaseError, RedisError, BrokerError, SoftTimeLimitExceeded, TryLater)


@shared_task(bind=True)
def send_music_drops_task(self: Task) -> int:  # type: ignore[type-arg]
    """The hourly send, as the beat dispatches it: fan out the users the slot's hour serves, in chunks.

    Safe twice: slot_claim runs it once per slot, and the ledger's row per (user, period) queues each user once.
    """
    slot = slot_claim(self.request)
    if slot is None:
        return 0
    # An interval schedule (drills) dispatches within the hour: each run is that hour's slot, again.
    return services.drops_start(slot=slot_of(slot), queue=queue_chunk)


@shared_task
def sweep_music_drops_task() -> int:
    """Queue again everyone still due whose chunk lapsed. Safe twice (so no slot_claim): one sweep reserves a row."""
    return services.drops_sweep(queue=queue_chunk)


def queue_chunk(slot: dt.datetime, user_ids: list[int]) -> None:
    send_drop_chunk_task.apply_async(kwargs={"slot": slot.isoformat(), "user_ids": user_ids})


def _backoff(retries: int) -> float:
    """5 s, 10 s, 20 s... up to DROPS_RETRY_BACKOFF_MAX, with jitter so a thousand chunks don't retry at once."""
    longest: float = settings.DROPS_RETRY_BACKOFF_MAX
    return random.uniform(0.5, 1.0) * min(longest, 5.0 * (1 << min(retries, 10)))  # noqa: S311


@shared_task(bind=True, max_retries=None)
def send_drop_chunk_task(self: Task, slot: str, user_ids: list[int], since: str | None = None) -> int:  # type: ignore[type-arg]
    """Send one chunk of a slot's drops; retry what it could not send yet, for DROPS_RETRY_HOURS after ``since``.

    Safe twice or concurrently: each attempt claims and records under a token of its own (ledger.py).
    """
    when = _time(slot)
    if when is None or not isinstance(user_ids, list) or not all(isinstance(u, int) for u in user_ids):
        logger.error("send_drop_chunk_task: malformed arguments slot=%r user_ids=%.200r: ignored", slot, user_ids)
        return 0
    first = _time(since) or dt.datetime.now(dt.UTC)
    kwargs = {"slot": when.isoformat(), "since": first.isoformat()}
    try:
        outcome = services.drop_chunk_send(slot=when, user_ids=user_ids, token=uuid.uuid4().hex)
    except TRANSIENT as error:
        countdown = _backoff(self.request.retries)
        if isinstance(error, TryLater) and error.retry_after is not None:
            countdown = max(countdown, error.retry_after)
        return _again(self, first, {**kwargs, "user_ids": user_ids}, countdown, error)
    if outcome.later:
        countdown = 0.0 if outcome.time_up else _backoff(self.request.retries)
        return _again(self, first, {**kwargs, "user_ids": outcome.later}, countdown, None)
    return outcome.sent


def _again(task: Task, first: dt.datetime, kwargs: dict[str, Any], countdown: float, error: Exception | None) -> int:  # type: ignore[type-arg]
    if dt.datetime.now(dt.UTC) - first > dt.timedelta(hours=settings.DROPS_RETRY_HOURS):
        logger.error("drops for %s: giving up on %d users after %s h", kwargs["slot"], len(kwargs["user_ids"]),
                     settings.DROPS_RETRY_HOURS)  # fmt: skip
        return 0
    if error is not None:
        logger.warning("drops for %s: %s: %s; %d users again in %.0f s",
                       kwargs["slot"], type(error).__name__, error, len(kwargs["user_ids"]), countdown)  # fmt: skip
    # If this cannot be published (Redis away), the users stay due and the sweep queues them again.
    raise task.retry(kwargs=kwargs, countdown=countdown)


def _time(value: object) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=dt.UTC)
