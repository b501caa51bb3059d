"""A Redis that cannot eat the queue: real servers of 25 MB, each started with one maxmemory-policy.

Filled past its limit by cache writes (keys with an expiry, as Django's cache writes them),
a volatile-lfu Redis keeps every queued task, schedule entry and the beat's lock (the lock is
used every second, the cache pages once); an allkeys-lru one drops them, and /healthz says so
beforehand. volatile-lru lost the lock in each of 3 runs here: it has an expiry, and the pages
being written are more recent than its last renewal. The beat and its schedule are
real; the tasks wait unconsumed on the queue, as during a send.
"""

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from musicdrops.celery import app
from musicdrops.ops import health
from scripts import localredis
from tests.integration.beats import NOWHERE
from tests.integration.processes import Process, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

QUEUED = 200
CACHE_WRITES = 600  # of 100 KB each: 60 MB into 25 MB


@pytest.fixture
def redis_with_policy(run_dir: Path) -> Iterator[Callable[[str], str]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(policy: str) -> str:
        process, url = localredis.start(
            directory=run_dir / f"redis-{policy}", extra_args=["--maxmemory", "25mb", "--maxmemory-policy", policy]
        )
        started.append(process)
        return url

    yield start
    for process in started:
        process.kill()
        process.wait(10)


def fill_with_cache_writes(url: str) -> int:
    client = redis.Redis.from_url(url)
    value = b"x" * 100_000
    for n in range(CACHE_WRITES):
        client.set(f"musicdrops:1:cached-page-{n}", value, ex=3600)
    return int(client.info("stats")["evicted_keys"])


def queue_and_fill(start_process: Callable[..., Process], url: str) -> tuple[redis.Redis, int, set[str], int]:
    # No queue pings during the test: the regular queue holds exactly the tasks it sends.
    beat = start_process("beat", REDIS_URL=url, MUSICBRAINZ_URL=NOWHERE, QUEUE_PING_SECONDS="3600")
    client = redis.Redis.from_url(url, decode_responses=True)
    wait_until(lambda: client.exists("redbeat::lock"), 30, "the beat to take its lock", beat)
    entries = {key for key in client.scan_iter("redbeat:*") if not key.startswith("redbeat::")}
    assert entries, "the beat wrote its schedule"
    with app.connection_for_write(url) as connection:
        for _ in range(QUEUED):
            app.send_task("musicdrops.drops.tasks.sweep_music_drops_task", queue="regular", connection=connection)
    evicted = fill_with_cache_writes(url)
    return client, evicted, entries, beat.popen.poll() is None


def test_volatile_lfu_keeps_every_queued_task_schedule_entry_and_the_lock(start_process, redis_with_policy):
    url = redis_with_policy("volatile-lfu")
    client, evicted, entries, beat_alive = queue_and_fill(start_process, url)

    print(f"\nvolatile-lfu, 25 MB, {CACHE_WRITES} cache writes of 100 KB: {evicted} keys evicted")
    assert evicted > 0, "the cache did fill Redis past its limit"
    assert client.llen("regular") == QUEUED
    assert {key for key in entries if client.exists(key)} == entries
    assert client.exists("redbeat::schedule")
    assert client.exists("redbeat::lock")
    assert beat_alive


def test_allkeys_lru_loses_queued_work_and_healthz_said_so_before(start_process, redis_with_policy, monkeypatch):
    url = redis_with_policy("allkeys-lru")
    monkeypatch.setattr(health, "get_client", lambda: redis.Redis.from_url(url, decode_responses=True))
    monkeypatch.setattr(health, "_memory", None)
    _, body = health.health_report()
    assert health.REDIS_MAY_EVICT in body["problems"]
    assert body["checks"]["redis"]["maxmemory_policy"] == "allkeys-lru"

    client, evicted, entries, _ = queue_and_fill(start_process, url)

    lost_tasks = QUEUED - client.llen("regular")
    lost_entries = len([key for key in entries if not client.exists(key)])
    print(f"\nallkeys-lru, 25 MB: {evicted} keys evicted; {lost_tasks} of {QUEUED} queued tasks lost, "
          f"{lost_entries} of {len(entries)} schedule entries lost")  # fmt: skip
    assert lost_tasks + lost_entries > 0, "the risk /healthz reports is real"
