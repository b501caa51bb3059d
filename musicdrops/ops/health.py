"""What /healthz reports: the database, Redis, the beat, the work it sets off, and dispatches that shouldn't happen.

``status`` is one of:

- ``ok`` (HTTP 200): the database and Redis answer, exactly one beat is alive and
  it holds the lock, no recent duplicate dispatch waits to be acknowledged, the
  daily send is on time, and the queues and workers move;
- ``degraded`` (HTTP 200): everything still works, but a person should look —
  ``problems`` lists why: ``several-beats`` (a second beat is alive: a leftover
  from an old deploy?), ``duplicate-dispatch`` (a slot was dispatched twice, or
  by a foreign scheduler, in the last 24 h and nobody acknowledged it in the
  admin), ``paused-too-long`` (the schedule has been paused for over an hour),
  ``drops-overdue`` (users due for longer than DROPS_OVERDUE_SECONDS in the last
  48 h, or a day's fan-out started that long ago and never finished),
  ``worker-stalled`` (a worker has held a message longer than the hard time
  limit plus WORKER_STALL_MARGIN_SECONDS: it is frozen, dead until the
  visibility timeout gives the message back, or wedged), ``queue-stuck`` (a
  queue's oldest message has waited longer than QUEUE_AGE_ALERT_SECONDS; the
  beat's pings, musicdrops/ops/tasks.py, make that true of a queue no worker
  consumes even when no real work waits),
  ``redis-may-evict`` (Redis's maxmemory-policy may evict keys without an expiry,
  queued tasks and the schedule among them: musicdrops/ops/redis_memory.py);
- ``failing`` (HTTP 503): the database or Redis is unreachable, or no beat is
  dispatching (``no-active-beat``).

A beat's heartbeat that says "active" stops counting as soon as RedBeat's lock
holds another value than its token, so a SIGKILLed beat's record is not a
second beat beside its successor; and a standby that started moments ago is
not one yet either: it may be a restart waiting for a dead beat's lock to
expire (musicdrops/scheduler/heartbeat.py).

Degraded stays 200 on purpose: the web process serves fine, and a load
balancer or orchestrator must not take it out of rotation for a scheduler
problem that restarting web cannot fix. Alerting reads ``status``.

It must stay cheap (1,000 probes/s on 2 cores): one query (scalar subqueries
on small partial indexes, which also proves the database answers) and one
pipelined Redis round trip (PING, the heartbeats hash, the pause flag, the
lock, and one script that reads the queues and the unacknowledged messages:
musicdrops/ops/progress.py).
"""

import datetime as dt
import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from redis.exceptions import NoScriptError

from musicdrops.drops.models import Delivery, DropSend
from musicdrops.lib.redis_client import get_client
from musicdrops.ops import progress
from musicdrops.ops.redis_memory import REDIS_MAY_EVICT, Memory
from musicdrops.scheduler import heartbeat, selectors
from musicdrops.scheduler.models import DuplicateDispatch

logger = logging.getLogger(__name__)


@dataclass
class Check:
    ok: bool
    ms: float
    detail: dict[str, Any] = field(default_factory=dict)
    why: str = ""  # for the log, not the answer: "OperationalError: connection refused"

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "ms": round(self.ms, 2), **self.detail}


def _timed(probe: Any) -> tuple[Check, Any]:
    started = time.perf_counter()
    why = ""
    try:
        ok, detail, value = probe()
    except Exception as error:  # any failure of a dependency is a failed check, not a 500
        ok, detail, value = False, {"error": type(error).__name__}, None
        why = f"{type(error).__name__}: {error}"  # the answer says which check failed; the log says why, once
    return Check(ok=ok, ms=(time.perf_counter() - started) * 1000, detail=detail, why=why), value


@dataclass(frozen=True)
class DatabaseState:
    latest_duplicate: tuple[str, Any] | None
    drops: progress.DropsProgress


@dataclass(frozen=True)
class RedisState:
    beats: heartbeat.Beats
    pause: selectors.Pause | None
    broker: progress.BrokerState | None  # None: the broker script failed (the error is in the check)
    broker_error: str = ""  # "TypeName: message"
    memory: Memory | None = None


@functools.cache
def _query(counted_up_to: int) -> str:
    """The probe's one query: every value a scalar subquery, so it answers one row whatever is there.

    The literals match the partial indexes' conditions, so the planner picks those indexes; the times go in
    as parameters.
    """
    q = connection.ops.quote_name
    # The table names are our models'; every value goes in as a parameter.
    duplicate = (
        f"FROM {q(DuplicateDispatch._meta.db_table)} WHERE acknowledged_at IS NULL AND received_at >= %s"
        " ORDER BY received_at DESC LIMIT 1"
    )
    overdue = f"FROM {q(Delivery._meta.db_table)} WHERE status = 'due' AND queued_at >= %s AND queued_at < %s"
    # Counting 100,000 overdue users took 8 ms a probe: enough to say how bad, cheap when it is worst.
    overdue_count = f"SELECT COUNT(*) FROM (SELECT 1 {overdue} LIMIT {counted_up_to:d}) AS overdue"  # noqa: S608
    unfinished = (
        f"FROM {q(DropSend._meta.db_table)} WHERE fanned_out_at IS NULL AND started_at >= %s AND started_at < %s"
    )
    return (
        f"SELECT (SELECT entry {duplicate}), (SELECT received_at {duplicate}),"
        f" ({overdue_count}), (SELECT MIN(queued_at) {overdue}),"
        f" (SELECT COUNT(*) {unfinished}), (SELECT MIN(started_at) {unfinished})"
    )


def _database() -> tuple[bool, dict[str, Any], DatabaseState]:
    """The database answers, the latest duplicate dispatch that still needs a look, and the send's progress."""
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    duplicates_since = adapt(now - dt.timedelta(seconds=settings.DUPLICATE_ALERT_WINDOW))
    since, before = (adapt(moment) for moment in progress.overdue_bounds(now))
    query = _query(progress.OVERDUE_COUNTED_UP_TO)
    # Raw SQL: the ORM's three queries (selectors.recent_duplicates, progress.drops_progress) halve the probe rate.
    with connection.cursor() as cursor:
        cursor.execute(query, [duplicates_since] * 2 + [since, before] * 4)  # in the order the query says them
        row = cursor.fetchone()
    assert row is not None  # a SELECT without FROM answers one row
    entry, received_at, users, oldest_due, fan_outs, oldest_started = row
    drops = progress.DropsProgress.from_values(
        users=users, fan_outs=fan_outs, oldest=[oldest_due, oldest_started], now=now
    )
    return True, {}, DatabaseState(latest_duplicate=None if entry is None else (entry, received_at), drops=drops)


# Redis's memory policy changes rarely: read it once a minute, in the probe's one round trip.
MEMORY_READ_EVERY = 60.0
_memory: tuple[float, Memory] | None = None


def _redis() -> tuple[bool, dict[str, Any], RedisState]:
    global _memory
    client = get_client()
    read_memory = _memory is None or time.monotonic() - _memory[0] > MEMORY_READ_EVERY
    with client.pipeline(transaction=False) as pipe:
        pipe.ping()
        pipe.hgetall(heartbeat.KEY)
        pipe.get(selectors.PAUSE_KEY)
        pipe.get(heartbeat.lock_key())
        if read_memory:
            pipe.info("memory")
        pipe.evalsha(progress.script_sha(progress.BROKER_SCRIPT), *progress.broker_script_args())
        *answers, broker_reply = pipe.execute(raise_on_error=False)
    if read_memory:
        info = answers.pop()  # a Redis that refuses INFO: the policy is unknown, the rest of the answer stands
        _memory = (time.monotonic(), Memory.from_info(info if isinstance(info, dict) else {}))
    for answer in answers:
        if isinstance(answer, Exception):
            raise answer
    assert _memory is not None
    pong, records, paused, lock_token = answers
    beats = heartbeat.sort_out(records, lock_token=lock_token)
    try:
        if isinstance(broker_reply, NoScriptError):  # a restarted Redis has no scripts: EVAL loads it, once
            broker_reply = client.eval(progress.BROKER_SCRIPT, *progress.broker_script_args())
        if isinstance(broker_reply, Exception):
            raise broker_reply
        broker, error = progress.broker_state_from(broker_reply), ""
    except Exception as failure:  # the queues are garbage or the script failed: the rest of the answer stands
        broker, error = None, f"{type(failure).__name__}: {failure}"
    memory = _memory[1]
    return bool(pong), memory.as_dict(), RedisState(beats, selectors.Pause.from_record(paused), broker, error, memory)


def _dispatches(latest: tuple[str, Any] | None) -> Check:
    if latest is None:
        return Check(True, 0.0)
    entry, received_at = latest
    at = received_at.isoformat(timespec="seconds") if isinstance(received_at, dt.datetime) else str(received_at)
    return Check(False, 0.0, {"last_duplicate": {"entry": entry, "at": at}})


def _beat_detail(beats: heartbeat.Beats, pause: selectors.Pause | None) -> dict[str, Any]:
    active = [beat for beat in beats.live if beat.role == "active"]
    detail: dict[str, Any] = {"live": len(beats.live), "active": len(active), "paused": pause is not None}
    if active:
        detail["last_seen"] = active[0].seen_at
    if beats.handover:
        detail["handover"] = True  # the lock's new holder hasn't said so in its heartbeat yet
    if beats.newcomers:
        detail["newcomers"] = len(beats.newcomers)  # standbys just started: not yet a second beat
    if pause is not None:
        detail["paused_since"] = pause.since.isoformat(timespec="seconds")
        detail["paused_by"] = pause.by
    return detail


def health_report() -> tuple[int, dict[str, Any]]:
    """(HTTP status, the JSON body)."""
    database, db_state = _timed(_database)
    redis_check, state = _timed(_redis)
    checks = {"database": database, "redis": redis_check}
    problems: list[str] = []
    drops = db_state.drops if db_state is not None else None
    if state is None:
        checks["beat"] = Check(False, 0.0, {"error": "redis unavailable"})
    else:
        duplicate_seen = False
        if db_state is not None:
            checks["dispatches"] = _dispatches(db_state.latest_duplicate)
            duplicate_seen = db_state.latest_duplicate is not None
        broker = state.broker
        problems = selectors.scheduler_problems(
            beats=state.beats, pause=state.pause, duplicate_seen=duplicate_seen, drops=drops, broker=broker
        )
        beat_ok = selectors.NO_ACTIVE_BEAT not in problems and selectors.SEVERAL_BEATS not in problems
        checks["beat"] = Check(beat_ok, redis_check.ms, _beat_detail(state.beats, state.pause))
        if broker is None:
            error = {"error": state.broker_error.partition(":")[0]}
            checks["queues"] = checks["workers"] = Check(False, 0.0, error, why=state.broker_error)
        else:
            checks["queues"] = Check(not broker.stuck_queues(), 0.0, broker.queues_as_dict())
            checks["workers"] = Check(not broker.stalled, 0.0, broker.workers_as_dict())
        if state.memory is not None and state.memory.may_evict:
            problems.append(REDIS_MAY_EVICT)
    if drops is not None:
        checks["drops"] = Check(drops.overdue == 0, 0.0, drops.as_dict())
    if not (database.ok and redis_check.ok) or selectors.FAILING_PROBLEMS & set(problems):
        status = "failing"
    elif problems:
        status = "degraded"
    else:
        status = "ok"
    _log_change(status, checks, problems)
    body = {"status": status, "problems": problems, "checks": {name: c.as_dict() for name, c in checks.items()}}
    return (503 if status == "failing" else 200), body


_last_logged: tuple[str, tuple[str, ...], tuple[str, ...]] | None = None
_last_logged_lock = threading.Lock()


def _log_change(status: str, checks: dict[str, Check], problems: list[str]) -> None:
    """One log line when the answer changes (per process), not one per probe: probes come every few seconds."""
    global _last_logged
    failed = tuple(f"{name} ({check.why})" if check.why else name for name, check in checks.items() if not check.ok)
    state = (status, failed if status == "failing" else (), tuple(problems))
    with _last_logged_lock:
        previous, _last_logged = _last_logged, state
    if state == previous or (previous is None and status == "ok"):
        return
    if status == "ok":
        logger.info("/healthz ok again")
    else:
        details = [f"checks {', '.join(failed)}"] if status == "failing" else []
        logger.warning("/healthz %s: %s", status, "; ".join([*details, f"problems {','.join(problems) or 'none'}"]))
