"""The cache's Redis connections stay bounded however many threads gunicorn runs: one per thread."""

import threading
from collections.abc import Callable

from django.core.cache import caches

THREADS = 8


def _in_threads(work: Callable[[int], object], count: int = THREADS) -> list[object]:
    start = threading.Barrier(count)
    seen: list[object] = []

    def run() -> None:
        start.wait()
        for n in range(20):
            seen.append(work(n))

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return seen


def _connections(redis_client) -> int:
    """Connections to this run's Redis database (other test runs use other databases)."""
    db = str(redis_client.connection_pool.connection_kwargs.get("db", 0))
    return sum(1 for client in redis_client.client_list() if client["db"] == db)


def test_each_thread_uses_one_cache_connection(redis_client):
    before = _connections(redis_client)

    _in_threads(lambda n: caches["default"].set(f"cache-check-{n}", n, 30))  # a cache object per thread

    assert _connections(redis_client) - before <= THREADS


def test_the_cache_works_across_threads():
    caches["default"].set("cache-check", {"n": 1}, 30)

    seen = _in_threads(lambda n: caches["default"].get("cache-check"), count=1)

    assert seen[0] == {"n": 1}
