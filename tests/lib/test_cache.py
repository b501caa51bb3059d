"""The Redis cache: one pool and one client per process, however many threads gunicorn runs."""

import threading

from django.core.cache import caches


def _seen_from_a_new_thread() -> tuple[object, object, object]:
    seen: list[tuple[object, object, object]] = []

    def look() -> None:
        cache = caches["default"]
        seen.append((cache, cache._cache._get_connection_pool(write=True), cache._cache.get_client(write=True)))  # type: ignore[attr-defined]

    thread = threading.Thread(target=look)
    thread.start()
    thread.join()
    return seen[0]


def test_threads_share_one_pool_and_one_client():
    first, second = _seen_from_a_new_thread(), _seen_from_a_new_thread()

    assert first[0] is not second[0]  # Django gives each thread a cache object of its own...
    assert first[1] is second[1]  # ...but the connections are the process's: CACHES bounds them all
    assert first[2] is second[2]


def test_the_cache_works_across_threads(settings):
    caches["default"].set("shared-pool-check", {"n": 1}, 30)

    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(caches["default"].get("shared-pool-check")))
    thread.start()
    thread.join()

    assert seen == [{"n": 1}]
