"""What /healthz reports: the database, Redis, the beat, and dispatches that should not have happened.

``status`` is one of:

- ``ok`` (HTTP 200): the database and Redis answer, exactly one beat is alive and
  it holds the lock, and no recent duplicate dispatch waits to be acknowledged;
- ``degraded`` (HTTP 200): everything still works, but a person should look —
  ``problems`` lists why: ``several-beats`` (a second beat is alive: a leftover
  from an old deploy?), ``duplicate-dispatch`` (a slot was dispatched twice, or
  by a foreign scheduler, in the last 24 h and nobody acknowledged it in the
  admin), ``paused-too-long`` (the schedule has been paused for over an hour);
- ``failing`` (HTTP 503): the database or Redis is unreachable, or no beat is
  dispatching (``no-active-beat``).

Degraded stays 200 on purpose: the web process serves fine, and a load
balancer or orchestrator must not take it out of rotation for a scheduler
problem that restarting web cannot fix. Alerting reads ``status``.

It must stay cheap (1,000 probes/s on 2 cores): one query on a small partial
index (which also proves the database answers) and one pipelined Redis round
trip (PING, the heartbeats hash, the pause flag).
"""

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from musicdrops.lib.db import fetch_one
from musicdrops.lib.redis import get_client
from musicdrops.scheduler import heartbeat, selectors
from musicdrops.scheduler.models import DuplicateDispatch

logger = logging.getLogger(__name__)


@dataclass
class Check:
    ok: bool
    ms: float
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "ms": round(self.ms, 2), **self.detail}


def _timed(probe: Any) -> tuple[Check, Any]:
    started = time.perf_counter()
    try:
        ok, detail, value = probe()
    except Exception as error:  # any failure of a dependency is a failed check, not a 500
        ok, detail, value = False, {"error": type(error).__name__}, None
        # The answer says which check failed; the log says why.
        logger.warning("/healthz: the %s check failed: %s: %s", probe.__name__.strip("_"), type(error).__name__, error)
    return Check(ok=ok, ms=(time.perf_counter() - started) * 1000, detail=detail), value


def _database() -> tuple[bool, dict[str, Any], tuple[str, Any] | None]:
    """The database answers, and the latest duplicate dispatch that still needs a look, in one round trip.

    Written by hand: this runs on every probe, and compiling the ORM's version
    of it costs more CPU than the rest of the probe (selectors.recent_duplicates
    is the same query, for everything else).
    """
    since = timezone.now() - dt.timedelta(seconds=settings.DUPLICATE_ALERT_WINDOW)
    table = connection.ops.quote_name(DuplicateDispatch._meta.db_table)
    # The table name is our model's; the value goes in as a parameter. The partial index covers it.
    query = f"SELECT entry, received_at FROM {table} WHERE acknowledged_at IS NULL AND received_at >= %s ORDER BY received_at DESC LIMIT 1"  # noqa: S608, E501
    return True, {}, fetch_one(query, [connection.ops.adapt_datetimefield_value(since)])


def _redis() -> tuple[bool, dict[str, Any], tuple[list[heartbeat.BeatInstance], selectors.Pause | None]]:
    with get_client().pipeline(transaction=False) as pipe:
        pipe.ping()
        pipe.hgetall(heartbeat.KEY)
        pipe.get(selectors.PAUSE_KEY)
        pong, records, paused = pipe.execute()
    return bool(pong), {}, (heartbeat.parse(records), selectors.Pause.from_record(paused))


def _dispatches(latest: tuple[str, Any] | None) -> Check:
    if latest is None:
        return Check(True, 0.0)
    entry, received_at = latest
    at = received_at.isoformat(timespec="seconds") if isinstance(received_at, dt.datetime) else str(received_at)
    return Check(False, 0.0, {"last_duplicate": {"entry": entry, "at": at}})


def _beat_detail(beats: list[heartbeat.BeatInstance], pause: selectors.Pause | None) -> dict[str, Any]:
    active = [beat for beat in beats if beat.role == "active"]
    detail: dict[str, Any] = {"live": len(beats), "active": len(active), "paused": pause is not None}
    if active:
        detail["last_seen"] = active[0].seen_at
    if pause is not None:
        detail["paused_since"] = pause.since.isoformat(timespec="seconds")
        detail["paused_by"] = pause.by
    return detail


def health_report() -> tuple[int, dict[str, Any]]:
    """(HTTP status, the JSON body)."""
    database, latest_duplicate = _timed(_database)
    redis_check, state = _timed(_redis)
    checks = {"database": database, "redis": redis_check}
    problems: list[str] = []
    if state is None:
        checks["beat"] = Check(False, 0.0, {"error": "redis unavailable"})
    else:
        beats, pause = state
        duplicate_seen = False
        if database.ok:
            checks["dispatches"] = _dispatches(latest_duplicate)
            duplicate_seen = latest_duplicate is not None
        problems = selectors.scheduler_problems(beats=beats, pause=pause, duplicate_seen=bool(duplicate_seen))
        beat_ok = selectors.NO_ACTIVE_BEAT not in problems and selectors.SEVERAL_BEATS not in problems
        checks["beat"] = Check(beat_ok, redis_check.ms, _beat_detail(beats, pause))
    if not (database.ok and redis_check.ok) or selectors.FAILING_PROBLEMS & set(problems):
        status = "failing"
        failed = [name for name, check in checks.items() if not check.ok]
        logger.warning("/healthz failing: checks %s, problems %s", ",".join(failed), ",".join(problems) or "none")
    elif problems:
        status = "degraded"
    else:
        status = "ok"
    body = {"status": status, "problems": problems, "checks": {name: c.as_dict() for name, c in checks.items()}}
    return (503 if status == "failing" else 200), body
