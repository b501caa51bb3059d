"""Tasks for bench/queues.py, loaded into the real workers with ``--include bench.queue_tasks``."""

import time

import redis
from celery import shared_task
from django.conf import settings

LATENCIES = "bench:queues:important-latency"


@shared_task(name="bench.regular_work")
def regular_work_task() -> None:
    """Bulk work: nothing to do but be taken off the queue and acknowledged."""


@shared_task(name="bench.important_work")
def important_work_task(sent_at: float) -> None:
    """What a person is waiting for: records how long it took from being sent to being done."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.rpush(LATENCIES, time.time() - sent_at)
