"""Steering the scheduler without a restart (docs/deploys.md).

The database keeps the decision (a pause, an entry switched off, each entry's last run), so that it
outlives Redis; Redis keeps the copy the beat reads on its next tick, and the beat writes that copy
again from the database when Redis comes back empty (`schedule_state_restore`).
"""

import datetime as dt
import json
import logging

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from musicdrops.redis_client import get_client
from musicdrops.scheduler import selectors
from musicdrops.scheduler.models import DuplicateDispatch, EntryState, SchedulePause

logger = logging.getLogger(__name__)

REDIS_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError)


class EntryNotFound(LookupError):
    pass


def schedule_pause(*, by: str, reason: str = "", client: redis.Redis | None = None) -> bool:
    """Pause every periodic entry. False if it already was (the first pause, and its time, stand)."""
    row, paused = SchedulePause.objects.get_or_create(id=SchedulePause.ONLY, defaults={"by": by, "reason": reason})
    try:
        # Written even when it was paused already: a copy Redis lost comes back.
        (client or get_client()).set(selectors.PAUSE_KEY, selectors.Pause.from_row(row).as_record())
    except REDIS_UNAVAILABLE:
        # Saved: without Redis the beat dispatches nothing, and it copies the pause there when Redis answers again.
        logger.warning("schedule pause saved; Redis did not answer, the beat applies it when Redis is back")
    if paused:
        logger.warning("schedule paused by %s%s", by, f" ({reason})" if reason else "")
    return paused


def schedule_resume(*, by: str, client: redis.Redis | None = None) -> bool:
    """Resume the schedule. False if it wasn't paused (in the database, nor in Redis)."""
    # Redis first, and a Redis error stops here: a resume half done leaves the schedule paused, never the other way.
    in_redis = bool((client or get_client()).delete(selectors.PAUSE_KEY))
    in_database, _ = SchedulePause.objects.filter(id=SchedulePause.ONLY).delete()
    resumed = in_redis or bool(in_database)
    if resumed:
        logger.warning("schedule resumed by %s", by)
    return resumed


def entry_set_enabled(*, name: str, enabled: bool, by: str, client: redis.Redis | None = None) -> bool:
    """Enable or disable one entry, in the database and in RedBeat's copy; False if it already was."""
    client = client or get_client()
    try:
        cached = _cache_enabled(name=name, enabled=enabled, client=client)
    except REDIS_UNAVAILABLE:
        cached = False
        logger.warning("schedule entry %s: saved; Redis did not answer, the beat applies it when Redis is back", name)
    if cached is None and name not in settings.CELERY_BEAT_SCHEDULE:
        raise EntryNotFound(name)
    with transaction.atomic():
        state, _ = EntryState.objects.select_for_update().get_or_create(name=name)
        saved = state.enabled != enabled
        if saved:
            state.enabled, state.changed_by, state.changed_at = enabled, by, timezone.now()
            state.save(update_fields=["enabled", "changed_by", "changed_at"])
    if not (saved or cached):
        return False
    logger.warning("schedule entry %s %s by %s", name, "enabled" if enabled else "disabled", by)
    return True


def _cache_enabled(*, name: str, enabled: bool, client: redis.Redis) -> bool | None:
    """Set ``enabled`` in RedBeat's copy of the entry (that field only, under WATCH); None: Redis holds no copy."""
    key = selectors.entry_key(name)
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                raw = pipe.hget(key, "definition")
                if not raw:
                    return None  # the beat writes it, with the database's state
                # Plain JSON on purpose: RedBeat's encoded schedule objects stay byte for byte as they were.
                definition = json.loads(raw)
                if bool(definition.get("enabled", True)) == enabled:
                    return False
                definition["enabled"] = enabled
                pipe.multi()
                pipe.hset(key, "definition", json.dumps(definition))
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def entry_ran(*, name: str, at: dt.datetime) -> None:
    """The beat dispatched ``name`` (its run counted, as RedBeat counts it): kept for when Redis forgets."""
    updated = EntryState.objects.filter(name=name).update(last_run_at=at, total_run_count=F("total_run_count") + 1)
    if not updated:
        EntryState.objects.get_or_create(name=name, defaults={"last_run_at": at, "total_run_count": 1})


def schedule_state_restore(
    *, cached_pause: selectors.Pause | None, cached_disabled: set[str], client: redis.Redis | None = None
) -> selectors.SavedState:
    """Make Redis's copy agree with the database before a beat writes its entries; what the database keeps.

    A pause or a switched-off entry that only Redis holds (from before they were saved, or set by hand)
    is saved first: a restore never resumes what someone paused.
    """
    if cached_pause is not None:
        SchedulePause.objects.get_or_create(
            id=SchedulePause.ONLY,
            defaults={"since": cached_pause.since, "by": cached_pause.by, "reason": cached_pause.reason},
        )
    for name in cached_disabled:
        EntryState.objects.get_or_create(name=name, defaults={"enabled": False, "changed_by": "(kept from Redis)"})
    saved = selectors.saved_state()
    if saved.pause is not None:
        (client or get_client()).set(selectors.PAUSE_KEY, saved.pause.as_record())
    return saved


def schedule_restored(*, restore: selectors.Restore, client: redis.Redis | None = None) -> None:
    """Tell scheduler_status and the admin page, for a day, that a beat wrote lost entries again."""
    (client or get_client()).set(selectors.RESTORED_KEY, restore.as_record(), ex=selectors.RESTORED_SHOWN_FOR)
    logger.warning(
        "beat %s: Redis had lost %d schedule entries; written again from the database (%s%s; %d last runs kept)",
        restore.by, len(restore.entries), "paused" if restore.paused else "not paused",
        f"; disabled: {', '.join(restore.disabled)}" if restore.disabled else "", restore.last_runs,
    )  # fmt: skip


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
