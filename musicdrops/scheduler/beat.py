"""The beat's scheduler: RedBeat plus a heartbeat, a pause switch, "run now", lock recovery, and a schedule
written again from the database when Redis comes back empty.

How it behaves on failover, a lost lock and a Redis outage: docs/failures/5-schedule-lost-or-stuck.md.
"""

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.utils import timezone
from redbeat import RedBeatScheduler
from redbeat.schedulers import get_redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError
from redis.exceptions import TimeoutError as RedisTimeoutError

from musicdrops.logs import log_context
from musicdrops.redis_client import get_client
from musicdrops.scheduler import heartbeat, selectors, services, slots

logger = logging.getLogger(__name__)

SEVERAL_BEATS_REPEAT = 300
DATABASE_COMPLAINT_REPEAT = 60
DATABASE_RETRY = 5  # seconds between two tries to read the schedule's state from a database that did not answer

T = TypeVar("T")
REDIS_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)


class Scheduler(RedBeatScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.instance = heartbeat.BeatInstance.current()
        self._lock_token = ""
        self._publishing = threading.Lock()  # both threads publish: an older role must not overwrite a newer one
        self._pause: selectors.Pause | None = None
        self._others_logged: tuple[frozenset[str], float] = (frozenset(), 0.0)
        self._redis_down_since: float | None = None
        # Copy the database's state to Redis again on the next tick: set while the database could not be read.
        self._resync = False
        self._database_failed_at = self._database_complained_at = 0.0
        self._stopped = threading.Event()
        super().__init__(*args, **kwargs)
        # Celery also builds a "lazy" scheduler, only to print the start-up banner: it never runs.
        if not kwargs.get("lazy"):
            threading.Thread(target=self._beat_forever, name="beat-heartbeat", daemon=True).start()

    @property
    def role(self) -> str:
        return "active" if self._lock_token else "standby"

    def _beat_forever(self) -> None:
        while not self._stopped.is_set():
            try:
                self._publish()
                self._report_other_beats(heartbeat.prune())
            except Exception:
                logger.warning("beat heartbeat could not be published", exc_info=True)
            self._stopped.wait(settings.BEAT_HEARTBEAT_INTERVAL)

    def _publish(self) -> None:
        with self._publishing:
            heartbeat.publish(self.instance, role=self.role, lock_token=self._lock_token)

    def _hold(self, token: str) -> None:
        """Record the lock's token, publishing a change at once: /healthz reads the role from the heartbeat."""
        changed = token != self._lock_token
        self._lock_token = token
        if changed:
            self._publish()

    def _report_other_beats(self, beats: list[heartbeat.BeatInstance]) -> None:
        others = [beat for beat in beats if beat.instance_id != self.instance.instance_id]
        seen = frozenset(beat.instance_id for beat in others)
        logged, at = self._others_logged
        if not others:
            if logged:
                logger.info("beat %s: no other beat alive any more", self.instance.name)
            self._others_logged = (frozenset(), 0.0)
            return
        if seen == logged and time.monotonic() - at < SEVERAL_BEATS_REPEAT:
            return
        logger.error(
            "%d beats alive, expected 1. This one: %s (%s, release %s). Others: %s",
            len(others) + 1, self.instance.name, self.role, self.instance.release,
            "; ".join(f"{b.name} ({b.role}, release {b.release}, started {b.started_at})" for b in others),
        )  # fmt: skip
        self._others_logged = (seen, time.monotonic())

    def update_from_dict(self, dict_: dict[str, Any]) -> None:
        """Write the configured entries to Redis with the state the database keeps (RedBeat would enable them all).

        At start, and whenever Redis lost some (`_tick`): an entry Redis lost comes back disabled if it was, and with
        its last run, so that a run that fell due meanwhile is dispatched once, now, unless the schedule is paused.
        """
        client = get_client()
        cached = selectors.cached_entries(list(dict_), client=client)
        lost = [name for name in dict_ if name not in cached]
        saved = self._database(
            "read the schedule's state",
            lambda: services.schedule_state_restore(
                cached_pause=selectors.Pause.from_record(client.get(selectors.PAUSE_KEY)),  # type: ignore[arg-type]
                cached_disabled={name for name, enabled in cached.items() if not enabled},
                client=client,
            ),
        )
        self._resync = saved is None
        specs: dict[str, Any] = {}
        for name, spec in dict_.items():
            if not isinstance(spec, dict):
                specs[name] = spec
            elif saved is None:  # nothing known of the lost ones: dispatch none of them until the database answers
                if name in cached:
                    specs[name] = {**spec, "enabled": cached[name]}
            else:
                specs[name] = {**spec, "enabled": name not in saved.disabled}
                if name in lost and name in saved.last_runs:
                    last_run_at, runs = saved.last_runs[name]
                    specs[name] |= {"last_run_at": last_run_at, "total_run_count": runs}
        super().update_from_dict(specs)
        if saved is not None and lost and (saved.pause or (saved.disabled | saved.last_runs.keys()) & set(lost)):
            restore = selectors.Restore(
                at=timezone.now(), by=self.instance.name, entries=lost, paused=saved.pause is not None,
                disabled=sorted(saved.disabled & set(lost)), last_runs=len(saved.last_runs.keys() & set(lost)),
            )  # fmt: skip
            services.schedule_restored(restore=restore, client=client)

    def reserve(self, entry: Any) -> Any:
        """Advance the entry as RedBeat does (in Redis), and keep its last run in the database too."""
        ran = super().reserve(entry)
        self._ran(ran)
        return ran

    def _ran(self, entry: Any) -> None:
        self._database(
            f"keep {entry.name}'s last run", lambda: services.entry_ran(name=entry.name, at=entry.last_run_at)
        )

    def _database(self, doing: str, work: Callable[[], T]) -> T | None:
        """``work()``, or None when PostgreSQL does not answer: the beat goes on dispatching from Redis's copy."""
        close_old_connections()  # a long-lived process: drop a connection PostgreSQL closed, as a request would
        try:
            return work()
        except DatabaseError as error:
            self._database_failed_at = time.monotonic()
            if time.monotonic() - self._database_complained_at > DATABASE_COMPLAINT_REPEAT:
                logger.error(
                    "beat %s: could not %s: the database does not answer (%r)", self.instance.name, doing, error
                )
                self._database_complained_at = time.monotonic()
            return None

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            interval = self._tick(*args, **kwargs)
        except REDIS_UNAVAILABLE as error:
            return self._redis_unavailable(error)
        if self._redis_down_since is not None:
            down = time.monotonic() - self._redis_down_since
            logger.warning("beat %s: Redis answers again after %.0f s", self.instance.name, down)
            self._redis_down_since = None
            self._resync = True  # a pause or switch saved while Redis was away reaches Redis's copy on the next tick
        return interval

    def _tick(self, *args: Any, **kwargs: Any) -> float:
        if not self._lock_token:
            self._take_lock()
        configured = self.app.redbeat_conf.schedule
        with get_client().pipeline(transaction=False) as pipe:
            pipe.get(selectors.PAUSE_KEY)
            pipe.hgetall(selectors.RUN_NOW_KEY)
            pipe.exists(self.app.redbeat_conf.schedule_key)
            if configured:
                pipe.exists(*(selectors.entry_key(name) for name in configured))
            paused, requested, scheduled, *present = pipe.execute()
        pause = selectors.Pause.from_record(paused)
        if (pause is None) != (self._pause is None):
            logger.warning("beat %s: schedule %s", self.instance.name, "paused" if pause else "resumed")
        self._pause = pause
        try:
            interval: float = super().tick(*args, **kwargs)  # extends the lock first: raises LockError if lost
        except LockError as error:  # RedBeat ends the beat here: https://github.com/sibson/redbeat/issues/230
            return self._lost_lock(error)
        waiting = self._resync and time.monotonic() - self._database_failed_at < DATABASE_RETRY
        if configured and (not scheduled or present[0] < len(configured)) and not waiting:
            self._recreate_schedule()
        elif self._resync and not waiting:
            self.setup_schedule()
        if pause is None:
            for name, raw in requested.items():
                request = selectors.RunNowRequest.from_record(name, raw)
                if request is not None:
                    self._run_now(request)
        return interval

    def _redis_unavailable(self, error: Exception) -> float:
        if self._redis_down_since is None:
            self._redis_down_since = time.monotonic()
            logger.error(
                "beat %s: Redis is unavailable (%r); trying again every %s s",
                self.instance.name, error, self.max_interval,
            )  # fmt: skip
        return float(self.max_interval)

    def _recreate_schedule(self) -> None:
        if self._resync:  # still waiting for the database: said once already
            self.setup_schedule()
            return
        logger.warning(
            "beat %s: schedule entries are gone from Redis (Redis restarted empty?); writing them again",
            self.instance.name,
        )  # fmt: skip
        self.setup_schedule()  # with the database's pause, switches and last runs: update_from_dict

    def maybe_due(self, entry: Any, **kwargs: Any) -> Any:
        if self._pause is not None:
            return None  # due entries stay due, and run once on resume
        return super().maybe_due(entry, **kwargs)

    def _run_now(self, request: selectors.RunNowRequest) -> None:
        try:
            entry = self.Entry.from_key(selectors.entry_key(request.entry), app=self.app)
        except KeyError:
            logger.error("run now: no entry %r any more; request by %s dropped", request.entry, request.by)
            services.run_now_done(request=request)
            return
        try:
            self.apply_async(entry, producer=self.producer, advance=False, slot=request.requested_at, by=request.by)
        except Exception:
            logger.exception("run now of %s failed to dispatch; trying again next tick", request.entry)
            return
        # Forgotten only once dispatched: a beat dying in between leaves it to the next, and slot_claim runs it once.
        services.run_now_done(request=request)
        # Counted as a run, as RedBeat counts scheduled ones: a run missed meanwhile is not dispatched again.
        self._ran(next(entry))

    def apply_async(
        self,
        entry: Any,
        producer: Any = None,
        advance: bool = True,
        *,
        slot: dt.datetime | None = None,
        by: str = "",
        **kwargs: Any,
    ) -> Any:
        """Dispatch as RedBeat does, stamped with entry, slot and beat; ``slot``/``by``: a "run now" request's."""
        # Before super() advances the entry: the slot comes from the run time it has now.
        slot = slot or slots.slot_for(entry.schedule, self.app.now(), entry.last_run_at)
        identity = self.instance.identity() | ({"run_now_by": by} if by else {})
        headers = slots.stamp(entry=entry.name, slot=slot, scheduler=identity)
        # For this dispatch only: RedBeat saves an entry's run times, never its options.
        original = entry.options
        entry.options = {**original, "headers": {**original.get("headers", {}), **headers}}
        try:
            with log_context(entry=entry.name, slot=slot.isoformat()):
                result = super().apply_async(entry, producer, advance, **kwargs)
                logger.info("dispatched %s%s (task %s)", entry.task, " (run now)" if by else "", result.id)
                return result
        finally:
            entry.options = original

    def _take_lock(self) -> None:
        if self.lock is None:  # not taken at start-up (Redis away): fail, as RedBeat itself would
            raise RuntimeError(f"beat {self.instance.name}: no {self.lock_key} taken at start-up")
        token = get_redis(self.app).get(self.lock_key)
        if token is None or not self.lock.owned():
            token = uuid.uuid4().hex
            self.lock.acquire(token=token)  # blocks, polling every max_interval, as RedBeat's start-up does
            logger.warning("beat %s holds %s again", self.instance.name, self.lock_key)
        self._hold(token)

    def _lost_lock(self, error: LockError) -> float:
        logger.error(
            "beat %s lost %s (%s): it expired or another beat took it. Standing by until it is free.",
            self.instance.name, self.lock_key, error,
        )  # fmt: skip
        self._hold("")
        self._take_lock()
        return 0.0

    def close(self) -> None:
        self._stopped.set()
        try:
            heartbeat.withdraw(self.instance)
        except Exception:
            logger.warning("beat heartbeat could not be withdrawn", exc_info=True)
        super().close()
