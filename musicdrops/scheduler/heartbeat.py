"""Beat heartbeats: every beat process says it is alive, and who it is (docs/failures/1-double-scheduler.md)."""

import dataclasses
import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from django.conf import settings
from redbeat.schedulers import ensure_conf

from musicdrops.celery import app
from musicdrops.redis_client import get_client
from musicdrops.release import current_commit, current_release

# One hash read by one HGETALL, each record with its own expiry: a SCAN for per-beat keys would walk the keyspace.
KEY = "musicdrops:beat:instances"


@dataclass(frozen=True)
class BeatInstance:
    instance_id: str
    host: str
    pid: int
    release: str
    started_at: str
    dyno: str = ""
    commit: str = ""
    role: str = "standby"
    seen_at: str = ""
    expires_at: float = 0.0
    lock_token: str = ""  # the value this beat wrote to RedBeat's lock key, while it holds it

    @classmethod
    def current(cls) -> "BeatInstance":
        return cls(
            instance_id=uuid.uuid4().hex[:12],
            host=socket.gethostname(),
            dyno=os.environ.get("DYNO", ""),
            pid=os.getpid(),
            release=current_release(),
            commit=current_commit(),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    @classmethod
    def from_record(cls, raw: str) -> "BeatInstance | None":
        """Parse a heartbeat, None when it isn't one; unknown fields are dropped: another release's beat must show."""
        try:
            record = json.loads(raw)
            known = {f.name for f in dataclasses.fields(cls)}
            return cls(**{key: value for key, value in record.items() if key in known})
        except (ValueError, TypeError, AttributeError):
            return None

    def lost_lock(self, lock_token: str | None) -> bool:
        """It says it holds the lock, but the lock now holds another value: its beat died or lost it."""
        return (
            self.role == "active" and bool(self.lock_token) and lock_token is not None and lock_token != self.lock_token
        )

    def started_epoch(self) -> float:
        try:
            return datetime.fromisoformat(self.started_at).timestamp()
        except (TypeError, ValueError):
            return 0.0  # unreadable: long ago, not a newcomer

    @property
    def name(self) -> str:
        return f"{self.dyno or self.host} pid {self.pid}"

    def identity(self) -> dict[str, Any]:
        """Who this beat is, without what changes between heartbeats: stamped on every dispatch."""
        fields = ("instance_id", "host", "dyno", "pid", "release", "commit", "started_at")
        return {name: getattr(self, name) for name in fields}


def publish(instance: BeatInstance, *, role: str, lock_token: str = "", client: redis.Redis | None = None) -> None:
    now = time.time()
    record = asdict(instance) | {
        "role": role,
        "lock_token": lock_token,
        "seen_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        "expires_at": now + settings.BEAT_HEARTBEAT_TTL,
    }
    with (client or get_client()).pipeline(transaction=False) as pipe:
        pipe.hset(KEY, instance.instance_id, json.dumps(record))
        pipe.expire(KEY, settings.BEAT_HEARTBEAT_TTL)
        pipe.execute()


def withdraw(instance: BeatInstance, *, client: redis.Redis | None = None) -> None:
    (client or get_client()).hdel(KEY, instance.instance_id)


@dataclass(frozen=True)
class Beats:
    live: list[BeatInstance]  # oldest first
    # Standbys started within newcomer_grace(): maybe a dead beat's successor waiting for its lock; not a second beat.
    newcomers: list[BeatInstance] = dataclasses.field(default_factory=list)
    # An active record just lost the lock to a holder that has not said so in its heartbeat yet.
    handover: bool = False

    @property
    def settled(self) -> list[BeatInstance]:
        new = {beat.instance_id for beat in self.newcomers}
        return [beat for beat in self.live if beat.instance_id not in new]


def lock_key() -> str:
    return str(ensure_conf(app).lock_key)


def newcomer_grace() -> float:
    """How long a restarted beat may wait as a standby: the lock's expiry, a poll, start-up and whole seconds."""
    return float(settings.REDBEAT_LOCK_TIMEOUT + 3 * settings.CELERY_BEAT_MAX_LOOP_INTERVAL)


def sort_out(records: dict[str, str], *, lock_token: str | None, now: float | None = None) -> Beats:
    """The live beats among HGETALL's answer, given the lock's value (None when free): no active one that lost it."""
    now = time.time() if now is None else now
    unexpired = [beat for raw in records.values() if (beat := BeatInstance.from_record(raw)) and beat.expires_at > now]
    live = sorted(
        (beat for beat in unexpired if not beat.lost_lock(lock_token)), key=lambda b: (b.started_at, b.instance_id)
    )
    grace = newcomer_grace()
    newcomers = [beat for beat in live if beat.role == "standby" and now - beat.started_epoch() < grace]
    handover = len(live) < len(unexpired) and not any(beat.lock_token == lock_token for beat in live)
    return Beats(live=live, newcomers=newcomers, handover=handover)


def parse(records: dict[str, str], *, lock_token: str | None = None, now: float | None = None) -> list[BeatInstance]:
    """The live beats (see sort_out); without the lock's value, only expiry decides."""
    return sort_out(records, lock_token=lock_token, now=now).live


def read(*, client: redis.Redis | None = None) -> tuple[dict[str, str], str | None]:
    with (client or get_client()).pipeline(transaction=False) as pipe:
        pipe.hgetall(KEY)
        pipe.get(lock_key())
        records, lock_token = pipe.execute()
    return records, lock_token


def live_beats(*, client: redis.Redis | None = None) -> list[BeatInstance]:
    records, lock_token = read(client=client)
    return parse(records, lock_token=lock_token)


def prune(*, client: redis.Redis | None = None) -> list[BeatInstance]:
    """Drop the records of beats gone without withdrawing (SIGKILL, lost host) or that lost the lock; the live ones."""
    client = client or get_client()
    records, lock_token = read(client=client)
    live = parse(records, lock_token=lock_token)
    stale = [field for field in records if field not in {beat.instance_id for beat in live}]
    if stale:
        client.hdel(KEY, *stale)
    return live
