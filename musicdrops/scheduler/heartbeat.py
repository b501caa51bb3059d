"""Beat heartbeats: every beat process says it is alive, and who it is.

A beat left running by a deploy — old code, invisible in the dashboard — is
the failure this exists for. Each beat writes its identity to Redis every few
seconds, so the live ones can always be listed, and more than one of them is
visible at once.

All heartbeats share one hash, read with a single HGETALL: /healthz reads it
on every probe, and a SCAN for per-beat keys would walk the whole keyspace
(queues, cache, results) a hundred keys per round trip. Each record carries
its own expiry; the hash itself expires when the last beat stops publishing.
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

from musicdrops.lib.redis import get_client
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


def parse(records: dict[str, str], *, now: float | None = None) -> list[BeatInstance]:
    """The live beats among HGETALL's answer, oldest first (expired and corrupt records are skipped)."""
    now = time.time() if now is None else now
    beats = [beat for raw in records.values() if (beat := BeatInstance.from_record(raw)) and beat.expires_at > now]
    return sorted(beats, key=lambda beat: (beat.started_at, beat.instance_id))


def live_beats(*, client: redis.Redis | None = None) -> list[BeatInstance]:
    records: dict[str, str] = (client or get_client()).hgetall(KEY)  # type: ignore[assignment]
    return parse(records)


def prune(*, client: redis.Redis | None = None) -> list[BeatInstance]:
    """Drop the records of beats that stopped publishing without withdrawing (SIGKILL, lost host).

    Returns the live beats.
    """
    client = client or get_client()
    records: dict[str, Any] = client.hgetall(KEY)  # type: ignore[assignment]
    live = parse(records)
    stale = [field for field in records if field not in {beat.instance_id for beat in live}]
    if stale:
        client.hdel(KEY, *stale)
    return live
