"""Beat heartbeats: every beat process says it is alive, and who it is.

A beat left running by a deploy — old code, invisible in the dashboard — is
the failure this exists for. Each beat writes its identity to Redis every few
seconds with a short TTL, so the live ones can always be listed, and more
than one of them is visible at once.
"""

import json
import os
import socket
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from django.conf import settings

from musicdrops.lib.redis import get_client

KEY_PREFIX = "musicdrops:beat:instance:"


@dataclass(frozen=True)
class BeatInstance:
    instance_id: str
    host: str
    pid: int
    release: str
    started_at: str
    role: str = "standby"
    seen_at: str = field(default="")

    @classmethod
    def current(cls) -> "BeatInstance":
        return cls(
            instance_id=uuid.uuid4().hex[:12],
            # On Heroku DYNO names the process ("beat.1"); elsewhere the host does.
            host=os.environ.get("DYNO") or socket.gethostname(),
            pid=os.getpid(),
            release=settings.RELEASE,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )


def publish(instance: BeatInstance, *, role: str) -> None:
    record = asdict(instance) | {"role": role, "seen_at": datetime.now(UTC).isoformat(timespec="seconds")}
    get_client().set(KEY_PREFIX + instance.instance_id, json.dumps(record), ex=settings.BEAT_HEARTBEAT_TTL)


def withdraw(instance: BeatInstance) -> None:
    get_client().delete(KEY_PREFIX + instance.instance_id)


def live_beats() -> list[BeatInstance]:
    client = get_client()
    keys = sorted(client.scan_iter(match=KEY_PREFIX + "*", count=100))
    if not keys:
        return []
    beats = []
    for raw in client.mget(keys):
        if raw is None:  # expired between SCAN and MGET
            continue
        try:
            beats.append(BeatInstance(**json.loads(raw)))
        except (ValueError, TypeError):
            continue  # a foreign or corrupt key must not break the status page
    return beats
