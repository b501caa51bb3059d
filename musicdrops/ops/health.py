"""What /healthz reports: can we reach the database and Redis, and is a beat alive?"""

import time
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from musicdrops.lib.redis import get_client
from musicdrops.scheduler import heartbeat


@dataclass
class Check:
    ok: bool
    ms: float
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "ms": round(self.ms, 2), **self.detail}


def _timed(probe: Any) -> Check:
    started = time.perf_counter()
    try:
        ok, detail = probe()
    except Exception as error:  # any failure of a dependency is a failed check, not a 500
        ok, detail = False, {"error": type(error).__name__}
    return Check(ok=ok, ms=(time.perf_counter() - started) * 1000, detail=detail)


def _database() -> tuple[bool, dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return True, {}


def _redis() -> tuple[bool, dict[str, Any]]:
    return bool(get_client().ping()), {}


def _beat() -> tuple[bool, dict[str, Any]]:
    beats = heartbeat.live_beats()
    active = [b for b in beats if b.role == "active"]
    detail: dict[str, Any] = {"live": len(beats), "active": len(active)}
    if len(active) == 1:
        detail["last_seen"] = active[0].seen_at
    # Exactly one beat must be dispatching. None: nothing periodic runs.
    # More than one: something ignores the lock and every job would run twice.
    return len(active) == 1, detail


def health_report() -> tuple[bool, dict[str, Any]]:
    checks = {"database": _timed(_database), "redis": _timed(_redis)}
    checks["beat"] = _timed(_beat) if checks["redis"].ok else Check(False, 0.0, {"error": "redis unavailable"})
    healthy = all(check.ok for check in checks.values())
    return healthy, {
        "status": "ok" if healthy else "failing",
        "checks": {name: check.as_dict() for name, check in checks.items()},
    }
