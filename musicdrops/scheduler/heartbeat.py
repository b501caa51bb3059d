"""Beat heartbeats: every beat process says it is alive, and who it is.

A beat left running by a deploy — old code, invisible in the dashboard — is
the failure this exists for. Each beat writes its identity to Redis every few
seconds, so the live ones can always be listed, and more than one of them is
visible at once.

All heartbeats share one hash, read with a single HGETALL: /healthz reads it
on every probe, and a SCAN for per-beat keys would walk the whole keyspace
(queues, cache, results) a hundred keys per round trip. Each record carries
its own expiry; the hash itself expires when the last beat stops publishing.

A record is also dead once it says "active" with a lock token that RedBeat's
lock no longer holds, because another value is there: its beat died or lost
the lock, and another took it over. Without that, a SIGKILLed active beat
would look alive beside its successor until its record expired, a false
"several beats" alarm on every failover. And a standby that started moments
ago (newcomer_grace) is not yet a second beat: beside a dead beat's record,
it is the restart waiting for that beat's lock to expire.
"""

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
from musicdrops.lib.redis_client import get_client
from musicdrops.lib.release import current_commit, current_release

KEY = "musicdrops:beat:instances"


@dataclass(frozen=True)
class BeatInstance:
    instance_id: str
    host: str
    pid: int
    release: str
    started_at: str
    dyno: str = ""  # Heroku names the process ("beat.1"); empty elsewhere
    commit: str = ""
    role: str = "standby"
    seen_at: str = ""
    expires_at: float = 0.0  # epoch seconds; the record means nothing after it
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
        """Parse a heartbeat; None when it isn't one.

        Fields this code doesn't know are dropped, and missing optional ones
        defaulted: a beat from an older or newer release — the very one worth
        seeing — must still show up.
        """
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
    # Standbys started within newcomer_grace(): each may be the successor of a beat that just died,
    # waiting for its lock to expire. Live, but not yet a second beat.
    newcomers: list[BeatInstance] = dataclasses.field(default_factory=list)
    # An active record just lost the lock to a value no live record claims: its new holder hasn't
    # said so in its heartbeat yet (it does on the tick it takes the lock: musicdrops/scheduler/beat.py).
    handover: bool = False

    @property
    def settled(self) -> list[BeatInstance]:
        new = {beat.instance_id for beat in self.newcomers}
        return [beat for beat in self.live if beat.instance_id not in new]


def lock_key() -> str:
    """RedBeat's lock (``redbeat::lock``): whoever holds it is the beat that dispatches."""
    return str(ensure_conf(app).lock_key)


def newcomer_grace() -> float:
    """How long a beat started after its predecessor died may wait as a standby: the lock's expiry, then a poll.

    Plus a loop for start-up and one for started_at's whole seconds.
    """
    return float(settings.REDBEAT_LOCK_TIMEOUT + 3 * settings.CELERY_BEAT_MAX_LOOP_INTERVAL)


def sort_out(records: dict[str, str], *, lock_token: str | None, now: float | None = None) -> Beats:
    """The live beats among HGETALL's answer, given the lock's value (GET of lock_key(); None when free).

    Expired and corrupt records are skipped, and so are active ones whose lock another value now holds.
    """
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
    """The heartbeat records and the lock's value, in one round trip."""
    with (client or get_client()).pipeline(transaction=False) as pipe:
        pipe.hgetall(KEY)
        pipe.get(lock_key())
        records, lock_token = pipe.execute()
    return records, lock_token


def live_beats(*, client: redis.Redis | None = None) -> list[BeatInstance]:
    records, lock_token = read(client=client)
    return parse(records, lock_token=lock_token)


def prune(*, client: redis.Redis | None = None) -> list[BeatInstance]:
    """Drop the records of beats that stopped publishing without withdrawing (SIGKILL, lost host), or lost the lock.

    Returns the live beats.
    """
    client = client or get_client()
    records, lock_token = read(client=client)
    live = parse(records, lock_token=lock_token)
    stale = [field for field in records if field not in {beat.instance_id for beat in live}]
    if stale:
        client.hdel(KEY, *stale)
    return live
