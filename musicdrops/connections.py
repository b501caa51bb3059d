"""The Redis connection budget: what each process type holds at the most, from the settings it runs with.

The one place these figures live. ``manage.py check`` (so the release phase's ``migrate``), every worker and
the beat refuse to start when the formation cannot fit ``REDIS_MAX_CONNECTIONS``, the plan's limit;
tests/integration/test_redis_connections.py measures each process type and fails when it holds more than
this says, and docs/failures/3-redis-full-of-results.md shows the same figures.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.checks import Error, register

# kombu's Redis channel: one connection it checks with a PING when it opens (then idle), one it sends on.
PRODUCER = 2
# Django's RedisCache keeps a pool per thread (settings.CACHES: max_connections 1).
CACHE_PER_THREAD = 1
REDBEAT = 1  # RedBeat's own client, used by the beat's one scheduling thread
CONSUMER = 2  # a worker's BRPOP connection, and the one it acknowledges and restores on
# Remote control: the broadcast subscription and its bindings; events: task events and heartbeats.
REMOTE_CONTROL = 2 + 2
# Operators' tools, measured: Flower as `make flower` runs it (its broker pool of 10), one `celery inspect`.
FLOWER = 24
INSPECT = 4
BEAT_THREADS = 2  # the scheduling loop and the heartbeat (musicdrops/scheduler/beat.py)


@dataclass(frozen=True)
class Budget:
    per_process: dict[str, int]  # a process type's connections at the most, one process (a dyno)
    formation: dict[str, int]  # how many of each run
    tools: int  # Flower and one inspect, when remote control lets them work

    @property
    def needed(self) -> int:
        return sum(self.per_process[name] * count for name, count in self.formation.items()) + self.tools

    def breakdown(self) -> str:
        parts = [f"{name} {self.per_process[name]} x {count}" for name, count in self.formation.items() if count]
        if self.tools:
            parts.append(f"Flower and an inspect {self.tools}")
        return ", ".join(parts)


def worker_process_types() -> dict[str, str]:
    """Process type -> its queue, one worker per queue (the Procfile's worker-<queue> lines)."""
    return {f"worker-{queue.name}": queue.name for queue in settings.CELERY_TASK_QUEUES}


def per_process() -> dict[str, int]:
    """Each process type's Redis connections at the most, from the settings it runs with."""
    direct = settings.REDIS_DIRECT_MAX_CONNECTIONS
    threads = settings.GUNICORN_THREADS
    # A pool limit of 0 is no pool: every thread publishing at once opens its own.
    producers = min(settings.CELERY_BROKER_POOL_LIMIT or threads, threads)
    remote = settings.CELERY_WORKER_ENABLE_REMOTE_CONTROL
    gunicorn_process = threads * CACHE_PER_THREAD + min(direct, threads) + producers * PRODUCER
    figures = {
        "web": settings.WEB_CONCURRENCY * gunicorn_process,
        "beat": REDBEAT + min(direct, BEAT_THREADS) + PRODUCER,
    }
    for name, queue in worker_process_types().items():
        # The parent: consumer, the direct client, and with remote control its events and the producer it replies
        # with. Each pool child: its own direct client and producer (a retry or a queued page publishes).
        parent = CONSUMER + 1 + (REMOTE_CONTROL + PRODUCER if remote else 0)
        figures[name] = parent + settings.WORKER_CONCURRENCY[queue] * (1 + PRODUCER)
    return figures


def formation() -> dict[str, int]:
    """``FORMATION`` ("web=2,worker-drops=3"): the types it leaves out run one each; ValueError when malformed."""
    counts = dict.fromkeys(per_process(), 1)
    for item in filter(None, (part.strip() for part in settings.FORMATION.split(","))):
        name, _, count = item.partition("=")
        name = name.strip()
        if name not in counts or not count.strip().isdigit():
            raise ValueError(f"FORMATION: {item!r} is not <process type>=<count> of {', '.join(counts)}")
        counts[name] = int(count)
    return counts


def budget() -> Budget:
    tools = FLOWER + INSPECT if settings.CELERY_WORKER_ENABLE_REMOTE_CONTROL else 0
    return Budget(per_process=per_process(), formation=formation(), tools=tools)


@register()
def redis_connections(**_: Any) -> list[Error]:
    limit = settings.REDIS_MAX_CONNECTIONS
    if not limit:
        return []  # no plan named: nothing to check against
    try:
        found = budget()
    except ValueError as error:
        return [Error(str(error), id="musicdrops.E101")]
    if found.needed <= limit:
        return []
    advice = (
        "Lower WEB_CONCURRENCY, GUNICORN_THREADS, a worker's *_CONCURRENCY or FORMATION"
        + (", or set WORKER_REMOTE_CONTROL=0 (no Flower, no celery inspect)" if found.tools else "")
        + ", or move to a plan with more connections and set REDIS_MAX_CONNECTIONS to its limit"
        " (docs/failures/3-redis-full-of-results.md)."
    )
    return [
        Error(
            f"The formation needs up to {found.needed} Redis connections ({found.breakdown()}), and"
            f" REDIS_MAX_CONNECTIONS, the Redis plan's limit, is {limit}. {advice}",
            id="musicdrops.E100",
        )
    ]


def refuse_over_budget(**_: Any) -> None:
    """At a worker's or the beat's start: SystemExit, as Celery swallows a signal handler's Exception."""
    if errors := [check.msg for check in redis_connections() if check.is_serious()]:
        raise SystemExit("Refusing to start: " + " ".join(errors))
