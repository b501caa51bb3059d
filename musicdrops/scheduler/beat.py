"""The beat's scheduler: RedBeat plus a heartbeat, a pause switch, "run now" and lock recovery.

How it behaves on failover, a lost lock and a Redis outage: docs/failures/5-schedule-lost-or-stuck.md.
"""

import datetime as dt
import logging
import threading
import time
import uuid
from typing import Any

from django.conf import settings
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
REDIS_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)


class Scheduler(RedBeatScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.instance = heartbeat.BeatInstance.current()
        self._lock_token = ""
        self._publishing = threading.Lock()  # both threads publish: an older role must not overwrite a newer one
        self._pause: selectors.Pause | None = None
        self._others_logged: tuple[frozenset[str], float] = (frozenset(), 0.0)
        self._redis_down_since: float | None = None
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
        """Load the configured entries, but keep disabled what the admin disabled: RedBeat re-enables them on start."""
        disabled = {status.name for status in selectors.entry_statuses() if status.loaded and not status.enabled}
        super().update_from_dict(
            {
                name: {**spec, "enabled": False} if name in disabled and isinstance(spec, dict) else spec
                for name, spec in dict_.items()
            }
        )

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            interval = self._tick(*args, **kwargs)
        except REDIS_UNAVAILABLE as error:
            return self._redis_unavailable(error)
        if self._redis_down_since is not None:
            down = time.monotonic() - self._redis_down_since
            logger.warning("beat %s: Redis answers again after %.0f s", self.instance.name, down)
            self._redis_down_since = None
        return interval

    def _tick(self, *args: Any, **kwargs: Any) -> float:
        if not self._lock_token:
            self._take_lock()
        with get_client().pipeline(transaction=False) as pipe:
            pipe.get(selectors.PAUSE_KEY)
            pipe.hgetall(selectors.RUN_NOW_KEY)
            pipe.exists(self.app.redbeat_conf.schedule_key)
            paused, requested, scheduled = pipe.execute()
        pause = selectors.Pause.from_record(paused)
        if (pause is None) != (self._pause is None):
            logger.warning("beat %s: schedule %s", self.instance.name, "paused" if pause else "resumed")
        self._pause = pause
        try:
            interval: float = super().tick(*args, **kwargs)  # extends the lock first: raises LockError if lost
        except LockError as error:  # RedBeat ends the beat here: https://github.com/sibson/redbeat/issues/230
            return self._lost_lock(error)
        if not scheduled and self.app.redbeat_conf.schedule:
            self._recreate_schedule()
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
        logger.warning(
            "beat %s: the schedule is gone from Redis (no %s: Redis restarted empty?); writing its entries again",
            self.instance.name, self.app.redbeat_conf.schedule_key,
        )  # fmt: skip
        self.setup_schedule()  # last runs count from now, as at a first start: none is due at once

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
        next(entry)

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
