"""The cache and the result backend share one Redis pool per process, however many threads gunicorn runs."""

import threading

from celery.backends.redis import RedisBackend
from django.core.cache import caches

from musicdrops.celery import app
from musicdrops.lib.cache import cache_pool


def _in_threads(work, count: int = 8) -> None:
    start = threading.Barrier(count)

    def run() -> None:
        start.wait()
        for n in range(20):
            work(n)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _results() -> RedisBackend:
    backend = app.backend  # one per thread, as Celery makes them
    assert isinstance(backend, RedisBackend)
    return backend


def _connections(redis_client) -> int:
    """Connections to this run's Redis database (other test runs use other databases)."""
    db = str(redis_client.connection_pool.connection_kwargs.get("db", 0))
    return sum(1 for client in redis_client.client_list() if client["db"] == db)


def test_threads_stay_within_the_pools_connections(settings, redis_client):
    limit = settings.CACHES["default"]["OPTIONS"]["max_connections"]
    before = _connections(redis_client)

    def work(n: int) -> None:
        caches["default"].set(f"shared-pool-check-{n}", n, 30)  # a cache object per thread, as Django makes them
        _results().get(f"celery-task-meta-shared-pool-check-{n}")

    _in_threads(work)

    assert _connections(redis_client) - before <= limit


def test_the_result_backend_is_on_the_cache_pool():
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(_results().client.connection_pool))
    thread.start()
    thread.join()

    assert seen == [cache_pool()]


def test_the_cache_works_across_threads():
    caches["default"].set("shared-pool-check", {"n": 1}, 30)

    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(caches["default"].get("shared-pool-check")))
    thread.start()
    thread.join()

    assert seen == [{"n": 1}]
