"""What the scheduler is doing, from Redis and the database (what must outlive Redis: ``saved_state``);
whether all is well is musicdrops/ops/health.py's to judge."""

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import redis
from celery.schedules import crontab, schedule
from django.conf import settings
from django.utils import timezone
from redbeat.schedulers import RedBeatSchedulerEntry, ensure_conf

from musicdrops.celery import app
from musicdrops.redis_client import get_client
from musicdrops.scheduler import heartbeat
from musicdrops.scheduler.heartbeat import lock_key
from musicdrops.scheduler.models import DuplicateDispatch, EntryState, SchedulePause

# Set while the whole schedule is paused (JSON: since, by, reason): the copy of
# the SchedulePause row our beat reads on every tick, so pausing needs no restart.
PAUSE_KEY = "musicdrops:scheduler:paused"
# Pending "run now" requests: entry name -> JSON (requested_at, by). The
# active beat dispatches each once, on its next tick, then deletes it.
RUN_NOW_KEY = "musicdrops:scheduler:run-now"
# The last time a beat wrote lost entries again from the database (JSON, see Restore), shown for a day.
RESTORED_KEY = "musicdrops:scheduler:restored"
RESTORED_SHOWN_FOR = 24 * 3600


@dataclass(frozen=True)
class Pause:
    since: dt.datetime
    by: str
    reason: str = ""

    @classmethod
    def from_record(cls, raw: str | None) -> "Pause | None":
        if raw is None:
            return None
        try:
            record = json.loads(raw)
            since = dt.datetime.fromisoformat(record["since"])
            return cls(since=since, by=record["by"], reason=record.get("reason", ""))
        except (ValueError, TypeError, KeyError):
            # Paused by hand (redis-cli SET ... 1): still paused, nothing else known.
            return cls(since=timezone.now(), by="unknown")

    @classmethod
    def from_row(cls, row: SchedulePause) -> "Pause":
        return cls(since=row.since, by=row.by, reason=row.reason)

    def as_record(self) -> str:
        return json.dumps({"since": self.since.isoformat(), "by": self.by, "reason": self.reason})


@dataclass(frozen=True)
class Restore:
    """A beat found configured entries gone from Redis and wrote them again with the database's state."""

    at: dt.datetime
    by: str  # the beat
    entries: list[str]
    paused: bool
    disabled: list[str]  # among the entries written again
    last_runs: int  # entries written again with their last run from the database

    @classmethod
    def from_record(cls, raw: str | None) -> "Restore | None":
        try:
            record = json.loads(raw or "")
            return cls(**record | {"at": dt.datetime.fromisoformat(record["at"])})
        except (ValueError, TypeError, KeyError):
            return None

    def as_record(self) -> str:
        return json.dumps(dataclasses.asdict(self) | {"at": self.at.isoformat()})


@dataclass(frozen=True)
class SavedState:
    """What the database keeps of the schedule: the pause, the entries switched off, and each entry's last run."""

    pause: Pause | None
    disabled: frozenset[str]
    last_runs: dict[str, tuple[dt.datetime, int]]  # name -> (last run, runs counted)


def saved_state() -> SavedState:
    row = SchedulePause.objects.filter(id=SchedulePause.ONLY).first()
    states = list(EntryState.objects.all())
    return SavedState(
        pause=Pause.from_row(row) if row else None,
        disabled=frozenset(state.name for state in states if not state.enabled),
        last_runs={s.name: (s.last_run_at, s.total_run_count) for s in states if s.last_run_at is not None},
    )


def cached_entries(names: list[str], *, client: redis.Redis | None = None) -> dict[str, bool]:
    """The entries among ``names`` that Redis holds (RedBeat's hashes), each with its ``enabled`` flag."""
    with (client or get_client()).pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hget(entry_key(name), "definition")
        definitions = pipe.execute()
    return {
        name: bool(json.loads(definition).get("enabled", True))
        for name, definition in zip(names, definitions, strict=True)
        if definition
    }


@dataclass(frozen=True)
class RunNowRequest:
    entry: str
    requested_at: dt.datetime
    by: str

    @classmethod
    def from_record(cls, entry: str, raw: str) -> "RunNowRequest | None":
        try:
            record = json.loads(raw)
            return cls(entry=entry, requested_at=dt.datetime.fromisoformat(record["requested_at"]), by=record["by"])
        except (ValueError, TypeError, KeyError):
            return None


@dataclass(frozen=True)
class LockHolder:
    held: bool
    ttl_seconds: float | None
    beat: heartbeat.BeatInstance | None  # None while held: a beat that publishes no heartbeat holds it


@dataclass(frozen=True)
class EntryStatus:
    name: str
    task: str
    schedule: str
    enabled: bool
    last_run_at: dt.datetime | None
    next_run_at: dt.datetime | None  # None: disabled, or no run ever again
    total_run_count: int
    run_now: RunNowRequest | None
    loaded: bool  # False: configured, but no beat has written it to Redis yet
    changed_by: str = ""  # who last enabled or disabled it


@dataclass(frozen=True)
class SchedulerOverview:
    beats: list[heartbeat.BeatInstance]
    lock: LockHolder
    pause: Pause | None
    entries: list[EntryStatus]
    duplicates: list[DuplicateDispatch]
    unacknowledged_duplicates: int
    restore: Restore | None = None


def current_pause(*, client: redis.Redis | None = None) -> Pause | None:
    """The database's pause; else one only Redis holds (set by hand, or older than saved pauses): the beat obeys it."""
    row = SchedulePause.objects.filter(id=SchedulePause.ONLY).first()
    if row is not None:
        return Pause.from_row(row)
    return Pause.from_record((client or get_client()).get(PAUSE_KEY))  # type: ignore[arg-type]


def last_restore(*, client: redis.Redis | None = None) -> Restore | None:
    return Restore.from_record((client or get_client()).get(RESTORED_KEY))  # type: ignore[arg-type]


def run_now_requests(*, client: redis.Redis | None = None) -> list[RunNowRequest]:
    records: dict[str, str] = (client or get_client()).hgetall(RUN_NOW_KEY)  # type: ignore[assignment]
    requests = [RunNowRequest.from_record(name, raw) for name, raw in records.items()]
    return sorted((r for r in requests if r is not None), key=lambda r: r.requested_at)


def entry_key(name: str) -> str:
    """The Redis hash RedBeat keeps an entry in (``redbeat:<name>``)."""
    return str(RedBeatSchedulerEntry.generate_key(ensure_conf(app).app, name))


def schedule_text(value: Any) -> str:
    if isinstance(value, crontab):
        every = crontab(minute="*")  # a field that holds every value is shown as "*"
        names = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
        fields = [
            "*" if getattr(value, name) == getattr(every, name) else ",".join(map(str, sorted(getattr(value, name))))
            for name in names
        ]
        return f"cron {' '.join(fields)} (UTC)"
    if isinstance(value, schedule):
        return f"every {value.seconds:g} s"
    return str(value)


def _next_run(value: Any, last_run_at: dt.datetime | None) -> dt.datetime | None:
    # Not RedBeat's due_at: for a crontab it adds the time left from *now* to the last run.
    now = timezone.now()
    if last_run_at is None:
        return now
    remaining: dt.timedelta | None = value.remaining_estimate(last_run_at)
    if remaining is None:
        return None  # no run ever again
    # To the nearest second: celery reads its own clock a moment after ours (07:00, not 06:59:59.998).
    return (now + max(remaining, dt.timedelta(0)) + dt.timedelta(milliseconds=500)).replace(microsecond=0)


def _entry_status(
    name: str, definition: str | None, meta: str | None, run_now: RunNowRequest | None, saved: EntryState | None
) -> EntryStatus:
    configured = settings.CELERY_BEAT_SCHEDULE.get(name, {})
    saved_runs = saved.total_run_count if saved else 0
    saved_last_run = saved.last_run_at if saved else None
    changed_by = saved.changed_by if saved else ""
    if not definition:
        return EntryStatus(
            name=name, task=configured.get("task", "?"), schedule=schedule_text(configured.get("schedule")),
            enabled=saved.enabled if saved else True, last_run_at=saved_last_run, next_run_at=None,
            total_run_count=saved_runs, run_now=run_now, loaded=False, changed_by=changed_by,
        )  # fmt: skip
    fields = RedBeatSchedulerEntry.decode_definition(definition)
    state = RedBeatSchedulerEntry.decode_meta(meta)
    entry = RedBeatSchedulerEntry(app=app, **fields)
    entry.last_run_at = state.get("last_run_at")
    runs = int(state.get("total_run_count") or 0)
    # Before its first run RedBeat stores the time the beat loaded the entry: not a run.
    last_runs = [moment for moment in (entry.last_run_at if runs else None, saved_last_run) if moment is not None]
    return EntryStatus(
        name=name,
        task=entry.task,
        schedule=schedule_text(entry.schedule),
        enabled=bool(entry.enabled),  # what the beat obeys: Redis's copy
        # Redis's copy starts again from nothing when Redis comes back empty; the database's outlives it.
        last_run_at=max(last_runs, default=None),
        next_run_at=_next_run(entry.schedule, entry.last_run_at) if entry.enabled else None,
        total_run_count=max(runs, saved_runs),
        run_now=run_now,
        loaded=True,
        changed_by=changed_by,
    )


def entry_statuses(*, client: redis.Redis | None = None) -> list[EntryStatus]:
    """Every entry: the configured ones (musicdrops/scheduler/schedule.py) and any added to Redis at run time."""
    client = client or get_client()
    conf = ensure_conf(app)
    prefix = conf.key_prefix
    keys: list[str] = client.zrange(conf.schedule_key, 0, -1)  # type: ignore[assignment]
    names = list(settings.CELERY_BEAT_SCHEDULE)
    names += sorted(key.removeprefix(prefix) for key in keys if key.removeprefix(prefix) not in names)
    pending = {request.entry: request for request in run_now_requests(client=client)}
    saved = {state.name: state for state in EntryState.objects.filter(name__in=names)}
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hmget(entry_key(name), ["definition", "meta"])
        answers = pipe.execute()
    return [
        _entry_status(name, definition, meta, pending.get(name), saved.get(name))
        for name, (definition, meta) in zip(names, answers, strict=True)
    ]


def lock_holder(*, beats: list[heartbeat.BeatInstance], client: redis.Redis | None = None) -> LockHolder:
    client = client or get_client()
    with client.pipeline(transaction=False) as pipe:
        pipe.get(lock_key())
        pipe.pttl(lock_key())
        token, ttl_ms = pipe.execute()
    if token is None:
        return LockHolder(held=False, ttl_seconds=None, beat=None)
    holder = next((beat for beat in beats if beat.lock_token and beat.lock_token == token), None)
    return LockHolder(held=True, ttl_seconds=ttl_ms / 1000 if ttl_ms and ttl_ms > 0 else None, beat=holder)


def recent_duplicates(*, now: dt.datetime | None = None) -> Any:
    """Duplicate dispatches that still need a look: recent (DUPLICATE_ALERT_WINDOW) and not acknowledged."""
    since = (now or timezone.now()) - dt.timedelta(seconds=settings.DUPLICATE_ALERT_WINDOW)
    return DuplicateDispatch.objects.filter(received_at__gte=since, acknowledged_at__isnull=True)


def scheduler_overview(*, duplicates_shown: int = 20) -> SchedulerOverview:
    client = get_client()
    records, lock_token = heartbeat.read(client=client)
    beats = heartbeat.sort_out(records, lock_token=lock_token)
    pause = current_pause(client=client)
    unacknowledged = recent_duplicates().count()
    return SchedulerOverview(
        beats=beats.live,
        lock=lock_holder(beats=beats.live, client=client),
        pause=pause,
        entries=entry_statuses(client=client),
        duplicates=list(DuplicateDispatch.objects.order_by("-received_at")[:duplicates_shown]),
        unacknowledged_duplicates=unacknowledged,
        restore=last_restore(client=client),
    )


def _when(moment: dt.datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def overview_as_dict(overview: SchedulerOverview) -> dict[str, Any]:
    """The overview as plain JSON types (``scheduler_status --json``)."""
    holder = overview.lock.beat
    return {
        "paused": {"since": _when(overview.pause.since), "by": overview.pause.by, "reason": overview.pause.reason}
        if overview.pause
        else None,
        "restored": dataclasses.asdict(overview.restore) | {"at": _when(overview.restore.at)}
        if overview.restore
        else None,
        "beats": [
            {key: value for key, value in dataclasses.asdict(beat).items() if key not in {"lock_token", "expires_at"}}
            for beat in overview.beats
        ],
        "lock": {
            "key": lock_key(),
            "held": overview.lock.held,
            "expires_in": overview.lock.ttl_seconds,
            "holder": holder.instance_id if holder else None,
        },
        "entries": [
            {
                "name": entry.name,
                "task": entry.task,
                "schedule": entry.schedule,
                "enabled": entry.enabled,
                "changed_by": entry.changed_by or None,
                "loaded": entry.loaded,
                "last_run_at": _when(entry.last_run_at),
                "next_run_at": _when(entry.next_run_at),
                "total_run_count": entry.total_run_count,
                "run_now_requested_at": _when(entry.run_now.requested_at) if entry.run_now else None,
            }
            for entry in overview.entries
        ],
        "duplicates": {
            "unacknowledged_recent": overview.unacknowledged_duplicates,
            "latest": [
                {
                    "id": d.id,
                    "entry": d.entry,
                    "slot": _when(d.slot),
                    "reason": d.reason,
                    "received_at": _when(d.received_at),
                    "task_id": d.task_id,
                    "first_task_id": d.first_task_id,
                    "sent_by": d.scheduler or None,
                    "origin": d.origin,
                    "acknowledged_at": _when(d.acknowledged_at),
                    "acknowledged_by": d.acknowledged_by,
                }
                for d in overview.duplicates
            ],
        },
    }
