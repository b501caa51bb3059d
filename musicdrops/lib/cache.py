"""One Redis connection pool per process for Django's cache and Celery's results.

Django makes a cache object, and with it a connection pool, per thread; Celery
makes a result backend, and a pool, per thread too. gunicorn's four threads
would then hold four times the connections settings.CACHES allows, and
Heroku's smallest Redis plan has 20 for every process together. Both
libraries take the pool from us through public hooks: Django's ``pool_class``
cache option (it calls ``from_url``) and the ``connection_pool`` argument of
Celery's Redis backend (musicdrops/lib/results.py). The pool blocks: a thread
waits briefly for a busy connection instead of failing.
"""

import threading
from typing import Any, Self

import redis
from django.conf import settings

_pools: dict[str, "SharedPool"] = {}  # server URL -> this process's pool
_pools_lock = threading.Lock()


class SharedPool(redis.BlockingConnectionPool):
    @classmethod
    def from_url(cls, url: str, **options: Any) -> Self:
        """The process's pool for ``url``, made with the options of the first caller."""
        with _pools_lock:  # two threads' first calls must not make two pools
            pool = _pools.get(url)
            if pool is None:
                pool = _pools[url] = super().from_url(url, **options)
        assert isinstance(pool, cls)
        return pool


def cache_pool() -> SharedPool:
    """The default cache's pool, with its options (settings.CACHES: TLS, time-outs, size)."""
    config: dict[str, Any] = settings.CACHES["default"]
    options = {key: value for key, value in config["OPTIONS"].items() if key != "pool_class"}
    return SharedPool.from_url(config["LOCATION"], **options)
