"""A task for shutdown tests: slow, and counting its starts and finishes in Redis.

Loaded into a real worker with ``--include tests.integration.slow_tasks``.
"""

import time

from celery import shared_task

from musicdrops.redis_client import get_client


@shared_task(name="tests.slow_task")
def slow_task(key: str, seconds: float) -> None:
    client = get_client()
    client.incr(f"{key}:started")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    client.incr(f"{key}:finished")
