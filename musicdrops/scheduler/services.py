"""Steering the scheduler without a restart: Redis writes the beat reads on its next tick (docs/deploys.md)."""

import datetime as dt
import json
import logging

import redis
from django.utils import timezone

from musicdrops.redis_client import get_client
from musicdrops.scheduler import selectors
from musicdrops.scheduler.models import DuplicateDispatch

logger = logging.getLogger(__name__)


class EntryNotFound(LookupError):
    pass


def schedule_pause(*, by: str, reason: str = "", client: redis.Redis | None = None) -> bool:
    """Pause every periodic entry. False if it already was (the first pause, and its time, stand)."""
    record = {"since": timezone.now().isoformat(), "by": by, "reason": reason}
    paused = bool((client or get_client()).set(selectors.PAUSE_KEY, json.dumps(record), nx=True))
    if paused:
        logger.warning("schedule paused by %s%s", by, f" ({reason})" if reason else "")
    return paused


def schedule_resume(*, by: str, client: redis.Redis | None = None) -> bool:
    """Resume the schedule. False if it wasn't paused."""
    resumed = bool((client or get_client()).delete(selectors.PAUSE_KEY))
    if resumed:
        logger.warning("schedule resumed by %s", by)
    return resumed


def entry_set_enabled(*, name: str, enabled: bool, by: str, client: redis.Redis | None = None) -> bool:
    """Enable or disable one entry (its ``enabled`` field only, under WATCH); False if it already was."""
    client = client or get_client()
    key = selectors.entry_key(name)
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                raw = pipe.hget(key, "definition")
                if not raw:
                    raise EntryNotFound(name)
                # Plain JSON on purpose: RedBeat's encoded schedule objects stay byte for byte as they were.
                definition = json.loads(raw)
                if bool(definition.get("enabled", True)) == enabled:
                    return False
                definition["enabled"] = enabled
                pipe.multi()
                pipe.hset(key, "definition", json.dumps(definition))
                pipe.execute()
                break
            except redis.WatchError:
                continue
    logger.warning("schedule entry %s %s by %s", name, "enabled" if enabled else "disabled", by)
    return True


def entry_run_now(*, name: str, by: str, client: redis.Redis | None = None) -> bool:
    """Ask the active beat to dispatch ``name`` on its next tick (after a pause); False if already asked."""
    client = client or get_client()
    if not client.exists(selectors.entry_key(name)):
        raise EntryNotFound(name)
    record = {"requested_at": timezone.now().isoformat(), "by": by}
    # HSETNX: a double click, or two people at once, make one run, not two.
    requested = bool(client.hsetnx(selectors.RUN_NOW_KEY, name, json.dumps(record)))
    if requested:
        logger.warning("schedule entry %s: run now, requested by %s", name, by)
    return requested


def run_now_done(*, request: selectors.RunNowRequest, client: redis.Redis | None = None) -> None:
    (client or get_client()).hdel(selectors.RUN_NOW_KEY, request.entry)


def duplicates_acknowledge(*, by: str, ids: list[int] | None = None, now: dt.datetime | None = None) -> int:
    """Mark duplicate dispatches as looked at (all unacknowledged ones, or these ids); returns how many."""
    pending = DuplicateDispatch.objects.filter(acknowledged_at__isnull=True)
    if ids is not None:
        pending = pending.filter(id__in=ids)
    count = pending.update(acknowledged_at=now or timezone.now(), acknowledged_by=by)
    if count:
        logger.info("%d duplicate dispatch(es) acknowledged by %s", count, by)
    return count
