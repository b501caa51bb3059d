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

from musicdrops.drops import chunk, fanout, retention
from musicdrops.drops.mailer import TryLater
from musicdrops.scheduler.slots import slot_claim

logger = logging.getLogger(__name__)

TRANSIENT = (SMTPException, OSError, DatabaseError, RedisError, BrokerError, SoftTimeLimitExceeded, TryLater)


@shared_task(bind=True)
def send_music_drops_task(self: Task) -> int:  # type: ignore[type-arg]
    """The hourly send as the beat dispatches it: its record and first page. Safe twice: once per slot (slot_claim)."""
    slot = slot_claim(self.request)
    if slot is None:
        return 0
    # An interval schedule (drills) dispatches within the hour: each run is that hour's slot, again.
    hour = fanout.slot_of(slot)
    fanout.drops_start(slot=hour)
    return _fan_out_page(hour)


@shared_task(bind=True, max_retries=None)
def fan_out_drops_task(self: Task, slot: str) -> int:  # type: ignore[type-arg]
    """A page of the fan-out, queuing the next ahead of its chunks. Safe twice: see fanout.drops_fan_out_page."""
    when = _time(slot)
    if when is None:
        logger.error("fan_out_drops_task: malformed slot %.200r: ignored", slot)
        return 0
    try:
        return _fan_out_page(when)
    except TRANSIENT as error:
        logger.warning("drops for %s: fan-out: %s: %s; again soon", slot, type(error).__name__, error)
        raise self.retry(countdown=_backoff(self.request.retries)) from None


def _fan_out_page(slot: dt.datetime) -> int:
    users, done = fanout.drops_fan_out_page(slot=slot)
    if not done:
        queue_page(slot)
    fanout.queue_in_chunks(slot, users, queue_chunk)
    return len(users)


@shared_task
def sweep_music_drops_task() -> int:
    """Go on with a stalled fan-out; queue again whoever a lapsed chunk left. Safe twice: see fanout.drops_sweep."""
    return fanout.drops_sweep(queue=queue_chunk, queue_page=queue_page)


@shared_task
def trim_drops_ledger_task() -> int:
    """Drop the ledger's rows past their window, for at most a chunk's time. Safe twice: each delete is by id."""
    return retention.ledger_trim(budget_seconds=settings.DROPS_CHUNK_SECONDS)


def queue_page(slot: dt.datetime) -> None:
    fan_out_drops_task.apply_async(args=(slot.isoformat(),))


def queue_chunk(slot: dt.datetime, user_ids: list[int]) -> None:
    """A chunk's message names the range of its users, not each: a few hundred bytes however big the chunk."""
    send_drop_chunk_task.apply_async(kwargs={"slot": slot.isoformat(), "first": user_ids[0], "last": user_ids[-1]})


def _backoff(retries: int) -> float:
    """5 s, 10 s, 20 s... up to DROPS_RETRY_BACKOFF_MAX, with jitter so a thousand chunks don't retry at once."""
    longest: float = settings.DROPS_RETRY_BACKOFF_MAX
    return random.uniform(0.5, 1.0) * min(longest, 5.0 * (1 << min(retries, 10)))  # noqa: S311


@shared_task(bind=True, max_retries=None)
def send_drop_chunk_task(self: Task, slot: str, first: int, last: int, since: str | None = None) -> int:  # type: ignore[type-arg]
    """Send a chunk; retry the rest for DROPS_RETRY_HOURS after ``since``. Safe twice: a token per attempt."""
    when = _time(slot)
    if when is None or not all(isinstance(u, int) and not isinstance(u, bool) for u in (first, last)):
        logger.error("send_drop_chunk_task: malformed arguments slot=%.200r first=%.50r last=%.50r: ignored",
                     slot, first, last)  # fmt: skip
        return 0
    begun = _time(since) or dt.datetime.now(dt.UTC)
    kwargs = {"slot": when.isoformat(), "since": begun.isoformat()}
    try:
        outcome = chunk.drop_chunk_send(slot=when, first=first, last=last, token=uuid.uuid4().hex)
    except TRANSIENT as error:
        countdown = _backoff(self.request.retries)
        if isinstance(error, TryLater) and error.retry_after is not None:
            countdown = max(countdown, error.retry_after)
        return _again(self, begun, {**kwargs, "first": first, "last": last}, countdown, error)
    if outcome.later:
        countdown = 0.0 if outcome.time_up else _backoff(self.request.retries)
        if outcome.retry_after is not None:  # a push endpoint's 429 named its wait
            countdown = max(countdown, min(outcome.retry_after, settings.DROPS_RETRY_BACKOFF_MAX))
        later = {"first": outcome.later[0], "last": outcome.later[-1]}
        return _again(self, begun, {**kwargs, **later}, countdown, None)
    return outcome.sent


def _again(task: Task, first: dt.datetime, kwargs: dict[str, Any], countdown: float, error: Exception | None) -> int:  # type: ignore[type-arg]
    if dt.datetime.now(dt.UTC) - first > dt.timedelta(hours=settings.DROPS_RETRY_HOURS):
        logger.error("drops for %s: giving up on users %s..%s after %s h", kwargs["slot"], kwargs["first"],
                     kwargs["last"], settings.DROPS_RETRY_HOURS)  # fmt: skip
        return 0
    if error is not None:
        logger.warning("drops for %s: %s: %s; users %s..%s again in %.0f s", kwargs["slot"],
                       type(error).__name__, error, kwargs["first"], kwargs["last"], countdown)  # fmt: skip
    # If this cannot be published (Redis away), the users stay due and the sweep queues them again.
    raise task.retry(kwargs=kwargs, countdown=countdown)


def _time(value: object) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=dt.UTC)
