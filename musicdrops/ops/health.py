"""Is MusicDrops healthy: the one judge that /healthz, /metrics, `scheduler_status` and the Scheduler page read.

``ok`` and ``degraded`` answer 200, ``failing`` 503; each problem is described in docs/deploys.md. One SQL
query and one pipelined Redis round trip: cheap enough for 1,000 probes/s on 2 cores.
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
from django.utils.dateparse import parse_datetime

from musicdrops import rejected_messages
from musicdrops.drops.fanout import QUEUES_MARK
from musicdrops.drops.models import Delivery, DropSend
from musicdrops.ops.redis_memory import Memory
from musicdrops.redis_client import get_client
from musicdrops.scheduler import heartbeat, selectors
from musicdrops.scheduler.models import DuplicateDispatch

logger = logging.getLogger(__name__)

NO_ACTIVE_BEAT = "no-active-beat"
SEVERAL_BEATS = "several-beats"
DUPLICATE_DISPATCH = "duplicate-dispatch"
PAUSED_TOO_LONG = "paused-too-long"
DROPS_OVERDUE = "drops-overdue"
DROPS_LOST_WITH_REDIS = "drops-lost-with-redis"
QUEUE_STUCK = "queue-stuck"
REDIS_MAY_EVICT = "redis-may-evict"
MESSAGES_REJECTED = "messages-rejected"
FAILING_PROBLEMS = frozenset({NO_ACTIVE_BEAT})

PINGS_KEY = "musicdrops:queue-pings"  # queue name -> when a worker last took its ping (epoch seconds)
OVERDUE_WINDOW = dt.timedelta(hours=48)  # older than this, a due user or a fan-out is an abandoned day: no alarm
OVERDUE_COUNTED_UP_TO = 1000  # /healthz counts overdue users up to this (it means "this many or more")
MEMORY_READ_EVERY = 60.0  # Redis's memory policy changes rarely: read it once a minute, in the probe's round trip


def queue_names() -> list[str]:
    return [queue.name for queue in settings.CELERY_TASK_QUEUES]


def queue_ping_taken(*, queue: str) -> None:
    """A worker took ``queue``'s ping just now."""
    get_client().hset(PINGS_KEY, queue, str(time.time()))


@dataclass
class Check:
    ok: bool
    ms: float
    detail: dict[str, Any] = field(default_factory=dict)
    why: str = ""  # for the log, not the answer: "OperationalError: connection refused"

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "ms": round(self.ms, 2), **self.detail}


@dataclass(frozen=True)
class Drops:
    overdue_users: int  # due for longer than DROPS_OVERDUE_SECONDS
    unfinished_fan_outs: int  # started longer than DROPS_OVERDUE_SECONDS ago, never fanned out
    oldest_overdue_seconds: float | None
    # A send of the last DROPS_RETRY_HOURS still fanning out or with users due: what the sweep queues again.
    sending: bool = False

    @property
    def overdue(self) -> int:
        return self.overdue_users + self.unfinished_fan_outs

    def as_dict(self) -> dict[str, Any]:
        return {
            "overdue": self.overdue,
            "oldest_overdue_seconds": _rounded(self.oldest_overdue_seconds),
            "unfinished_fan_outs": self.unfinished_fan_outs,
        }


@dataclass(frozen=True)
class QueueState:
    depth: int | None  # None: the key is not a list
    pinged_seconds_ago: float | None  # since a worker last took its ping; None: never
    stuck: bool

    def as_dict(self) -> dict[str, Any]:
        return {"depth": self.depth, "pinged_seconds_ago": _rounded(self.pinged_seconds_ago), "stuck": self.stuck}


@dataclass(frozen=True)
class Report:
    status: str
    problems: list[str]
    checks: dict[str, Check]
    drops: Drops | None  # None: the database did not answer
    queues: dict[str, QueueState]  # empty: Redis did not answer
    rejected: rejected_messages.Counts | None = None  # None: Redis did not answer

    @property
    def http_status(self) -> int:
        return 503 if self.status == "failing" else 200

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "problems": self.problems,
            "checks": {n: c.as_dict() for n, c in self.checks.items()},
        }


@dataclass(frozen=True)
class RedisState:
    beats: heartbeat.Beats
    pause: selectors.Pause | None
    pinged_at: dict[str, float | None]
    depths: dict[str, int | None]
    memory: Memory
    rejected: rejected_messages.Counts
    queues_kept: bool  # the sweep's mark is there: Redis has not come back empty since the sweep last looked


def _timed(probe: Any) -> tuple[Check, Any]:
    started = time.perf_counter()
    why = ""
    try:
        ok, detail, value = probe()
    except Exception as error:  # any failure of a dependency is a failed check, not a 500
        ok, detail, value = False, {"error": type(error).__name__}, None
        why = f"{type(error).__name__}: {error}"
    return Check(ok=ok, ms=(time.perf_counter() - started) * 1000, detail=detail, why=why), value


@functools.cache
def _query(counted_up_to: int | None) -> str:
    """Every value a scalar subquery, so it answers one row whatever is there.

    The literals match the partial indexes' conditions, so the planner picks those indexes; the times go in
    as parameters.
    """
    q = connection.ops.quote_name
    duplicate = (
        f"FROM {q(DuplicateDispatch._meta.db_table)} WHERE acknowledged_at IS NULL AND received_at >= %s"
        " ORDER BY received_at DESC LIMIT 1"
    )
    overdue = f"FROM {q(Delivery._meta.db_table)} WHERE status = 'due' AND queued_at >= %s AND queued_at < %s"
    # Counting 100,000 overdue users took 8 ms a probe: enough to say how bad, cheap when it is worst.
    limit = "" if counted_up_to is None else f" LIMIT {counted_up_to:d}"
    overdue_count = f"SELECT COUNT(*) FROM (SELECT 1 {overdue}{limit}) AS overdue"  # noqa: S608
    unfinished = (
        f"FROM {q(DropSend._meta.db_table)} WHERE fanned_out_at IS NULL AND started_at >= %s AND started_at < %s"
    )
    # A send's first due user in the partial index's order, so that the index answers it. As EXISTS, PostgreSQL
    # scanned the whole ledger per send while a busy send's pages awaited their vacuum: 614 ms at 500,000 rows.
    first_due = (
        f"SELECT d.user_id FROM {q(Delivery._meta.db_table)} AS d"  # noqa: S608
        " WHERE d.status = 'due' AND d.slot = s.slot ORDER BY d.user_id LIMIT 1"
    )
    sending = (
        f"SELECT 1 FROM {q(DropSend._meta.db_table)} AS s WHERE s.started_at >= %s"  # noqa: S608
        f" AND (s.fanned_out_at IS NULL OR ({first_due}) IS NOT NULL)"
    )
    return (
        f"SELECT (SELECT entry {duplicate}), (SELECT received_at {duplicate}),"
        f" ({overdue_count}), (SELECT MIN(queued_at) {overdue}),"
        f" (SELECT COUNT(*) {unfinished}), (SELECT MIN(started_at) {unfinished}),"
        f" EXISTS ({sending})"
    )


def _database(counted_up_to: int | None) -> tuple[bool, dict[str, Any], tuple[tuple[str, Any] | None, Drops]]:
    """The latest duplicate dispatch that still needs a look, and the daily send's overdue users and fan-outs."""
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    duplicates_since = adapt(now - dt.timedelta(seconds=settings.DUPLICATE_ALERT_WINDOW))
    since, before = adapt(now - OVERDUE_WINDOW), adapt(now - dt.timedelta(seconds=settings.DROPS_OVERDUE_SECONDS))
    retried_since = adapt(now - dt.timedelta(hours=settings.DROPS_RETRY_HOURS))  # the sweep's window
    # Raw SQL: the ORM says it as three queries, which halve the probe rate (docs/performance.md).
    with connection.cursor() as cursor:
        cursor.execute(_query(counted_up_to), [duplicates_since] * 2 + [since, before] * 4 + [retried_since])
        row = cursor.fetchone()
    assert row is not None  # a SELECT without FROM answers one row
    entry, received_at, users, oldest_due, fan_outs, oldest_started, sending = row
    moments = [moment for value in (oldest_due, oldest_started) if (moment := _as_datetime(value)) is not None]
    age = (now - min(moments)).total_seconds() if moments else None
    drops = Drops(
        overdue_users=int(users), unfinished_fan_outs=int(fan_outs), oldest_overdue_seconds=age, sending=bool(sending)
    )
    return True, {}, (None if entry is None else (entry, received_at), drops)


_memory: tuple[float, Memory] | None = None


def _redis() -> tuple[bool, dict[str, Any], RedisState]:
    global _memory
    client = get_client()
    names = queue_names()
    prefix = str(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", ""))
    read_memory = _memory is None or time.monotonic() - _memory[0] > MEMORY_READ_EVERY
    with client.pipeline(transaction=False) as pipe:
        pipe.ping()
        pipe.hgetall(heartbeat.KEY)
        pipe.get(selectors.PAUSE_KEY)
        pipe.get(heartbeat.lock_key())
        pipe.exists(QUEUES_MARK)
        pipe.hgetall(PINGS_KEY)
        pipe.llen(rejected_messages.list_key())
        pipe.mget([rejected_messages.total_key(), rejected_messages.acknowledged_key()])
        for name in names:
            # A queue is a list named after it: Celery's monitoring guide counts its tasks with LLEN.
            pipe.llen(prefix + name)
        if read_memory:
            pipe.info("memory")
        answers = pipe.execute(raise_on_error=False)
    if read_memory:
        info = answers.pop()  # a Redis that refuses INFO: the policy is unknown, the rest of the answer stands
        _memory = (time.monotonic(), Memory.from_info(info if isinstance(info, dict) else {}))
    pong, records, paused, lock_token, queues_kept, pings, kept, totals, *depths = answers
    for answer in (pong, records, paused, lock_token, queues_kept):
        if isinstance(answer, Exception):
            raise answer
    pings = pings if isinstance(pings, dict) else {}  # garbage where the pings belong: no ping taken
    assert _memory is not None
    memory = _memory[1]
    state = RedisState(
        beats=heartbeat.sort_out(records, lock_token=lock_token),
        pause=selectors.Pause.from_record(paused),
        pinged_at={name: _epoch(pings.get(name)) for name in names},
        depths={name: depth if isinstance(depth, int) else None for name, depth in zip(names, depths, strict=True)},
        memory=memory,
        rejected=rejected_messages.Counts.from_answers(kept, totals),
        queues_kept=bool(queues_kept),
    )
    return bool(pong), memory.as_dict(), state


def _stuck(state: RedisState, now: float) -> list[str]:
    """The queues whose pings, sent by the active beat, went untaken longer than one may wait and the next comes."""
    pinging = [beat.started_epoch() for beat in state.beats.live if beat.role == "active"]
    if state.pause is not None or not pinging:
        return []  # no pings are sent: nothing to judge a queue by
    since = min(pinging)
    limit = settings.QUEUE_AGE_ALERT_SECONDS + settings.QUEUE_PING_SECONDS
    return [name for name, at in state.pinged_at.items() if now - max(at or 0.0, since) > limit]


def _problems(state: RedisState, *, duplicate_seen: bool, drops: Drops | None, stuck: list[str]) -> list[str]:
    """Worst first; handover: the lock's new holder hasn't said so in its heartbeat yet."""
    beats, pause = state.beats, state.pause
    problems = []
    if not beats.handover and not any(beat.role == "active" for beat in beats.live):
        problems.append(NO_ACTIVE_BEAT)
    if len(beats.settled) > 1:
        problems.append(SEVERAL_BEATS)
    if duplicate_seen:
        problems.append(DUPLICATE_DISPATCH)
    if pause and (timezone.now() - pause.since).total_seconds() > settings.SCHEDULE_PAUSE_ALERT_AFTER:
        problems.append(PAUSED_TOO_LONG)
    if drops is not None and drops.overdue:
        problems.append(DROPS_OVERDUE)
    # Redis came back empty mid-send and no sweep has queued the users again yet; a first start has no send under way.
    if drops is not None and drops.sending and not state.queues_kept:
        problems.append(DROPS_LOST_WITH_REDIS)
    if stuck:
        problems.append(QUEUE_STUCK)
    if state.memory.may_evict:
        problems.append(REDIS_MAY_EVICT)
    if state.rejected.unacknowledged:
        problems.append(MESSAGES_REJECTED)
    return problems


def _beat_detail(beats: heartbeat.Beats, pause: selectors.Pause | None) -> dict[str, Any]:
    active = [beat for beat in beats.live if beat.role == "active"]
    detail: dict[str, Any] = {"live": len(beats.live), "active": len(active), "paused": pause is not None}
    if active:
        detail["last_seen"] = active[0].seen_at
    if beats.handover:
        detail["handover"] = True
    if beats.newcomers:
        detail["newcomers"] = len(beats.newcomers)  # standbys just started: not yet a second beat
    if pause is not None:
        detail["paused_since"] = pause.since.isoformat(timespec="seconds")
        detail["paused_by"] = pause.by
    return detail


def check(*, counted_up_to: int | None = None) -> Report:
    """The health of the whole app now; every overdue user counted, unless only up to ``counted_up_to``."""
    database, db_state = _timed(lambda: _database(counted_up_to))
    redis_check, state = _timed(_redis)
    checks = {"database": database, "redis": redis_check}
    latest_duplicate, drops = db_state if db_state is not None else (None, None)
    problems: list[str] = []
    queues: dict[str, QueueState] = {}
    if state is None:
        checks["beat"] = Check(False, 0.0, {"error": "redis unavailable"})
    else:
        now = time.time()
        stuck = _stuck(state, now)
        if db_state is not None:
            checks["dispatches"] = _dispatches(latest_duplicate)
        problems = _problems(state, duplicate_seen=latest_duplicate is not None, drops=drops, stuck=stuck)
        beat_ok = NO_ACTIVE_BEAT not in problems and SEVERAL_BEATS not in problems
        checks["beat"] = Check(beat_ok, redis_check.ms, _beat_detail(state.beats, state.pause))
        queues = {
            name: QueueState(
                depth=state.depths[name],
                pinged_seconds_ago=None if at is None else max(0.0, now - at),  # another host's clock may run ahead
                stuck=name in stuck,
            )
            for name, at in state.pinged_at.items()
        }
        checks["queues"] = Check(not stuck, 0.0, {name: queue.as_dict() for name, queue in queues.items()})
        checks["rejected_messages"] = Check(not state.rejected.unacknowledged, 0.0, {"kept": state.rejected.kept})
    if drops is not None:
        lost = DROPS_LOST_WITH_REDIS in problems
        detail = drops.as_dict() | ({"lost_with_redis": True} if lost else {})
        checks["drops"] = Check(drops.overdue == 0 and not lost, 0.0, detail)
    if not (database.ok and redis_check.ok) or FAILING_PROBLEMS & set(problems):
        status = "failing"
    else:
        status = "degraded" if problems else "ok"
    rejected = state.rejected if state is not None else None
    return Report(status=status, problems=problems, checks=checks, drops=drops, queues=queues, rejected=rejected)


def health_report() -> tuple[int, dict[str, Any]]:
    """/healthz's answer: (HTTP status, the JSON body)."""
    report = check(counted_up_to=OVERDUE_COUNTED_UP_TO)
    _log_change(report)
    return report.http_status, report.as_dict()


def _dispatches(latest: tuple[str, Any] | None) -> Check:
    if latest is None:
        return Check(True, 0.0)
    entry, received_at = latest
    at = received_at.isoformat(timespec="seconds") if isinstance(received_at, dt.datetime) else str(received_at)
    return Check(False, 0.0, {"last_duplicate": {"entry": entry, "at": at}})


_last_logged: tuple[str, tuple[str, ...], tuple[str, ...]] | None = None
_last_logged_lock = threading.Lock()


def _log_change(report: Report) -> None:
    """One log line when the answer changes (per process), not one per probe: probes come every few seconds."""
    global _last_logged
    checks, status, problems = report.checks, report.status, report.problems
    failed = tuple(f"{name} ({c.why})" if c.why else name for name, c in checks.items() if not c.ok)
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


def _epoch(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def _as_datetime(value: dt.datetime | str | None) -> dt.datetime | None:
    # PostgreSQL answers a raw query with datetimes, SQLite with text (in UTC, as Django stores it).
    moment = parse_datetime(value) if isinstance(value, str) else value
    if moment is not None and timezone.is_naive(moment):
        moment = moment.replace(tzinfo=dt.UTC)
    return moment
