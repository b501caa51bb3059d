"""Django's Redis cache, with one connection pool and one ``redis.Redis`` per process.

Django keeps a cache object per thread, and its Redis client makes a
connection pool per cache object and a new ``redis.Redis`` for every get or
set. Both cost more than they should here:

- A pool per thread: gunicorn's four threads held four pools, so a web
  process could open four times the connections ``CACHES`` allows, and
  Heroku's smallest Redis plan has 20 for every process together.
- A ``redis.Redis`` per operation: redis-py fills a table of about 170
  response callbacks in each constructor, 0.45 ms of CPU, more than the round
  trip itself; sessions live in this cache, so every request paid it.

A ``redis.Redis`` that holds no connection of its own is safe to share
between threads: each command takes a connection from the pool (a blocking
one: a thread waits briefly when all are busy) and gives it back.

Selected in settings.py: ``CACHES["default"]["BACKEND"]``.
"""

import threading
from typing import Any

import redis
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

_shared: dict[str, tuple[redis.ConnectionPool, redis.Redis]] = {}  # server URL -> its pool and client
_shared_lock = threading.Lock()


class CacheClient(RedisCacheClient):
    def _pool_and_client(self, write: bool) -> tuple[redis.ConnectionPool, redis.Redis]:
        server = self._servers[self._get_connection_pool_index(write)]  # type: ignore[attr-defined]
        found = _shared.get(server)
        if found is None:
            with _shared_lock:
                found = _shared.get(server)
                if found is None:
                    pool = self._pool_class.from_url(server, **self._pool_options)  # type: ignore[attr-defined]
                    found = _shared[server] = (pool, self._client(connection_pool=pool))  # type: ignore[attr-defined]
        return found

    def _get_connection_pool(self, write: bool) -> redis.ConnectionPool:
        return self._pool_and_client(write)[0]

    def get_client(self, key: Any = None, *, write: bool = False) -> redis.Redis:
        return self._pool_and_client(write)[1]


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = CacheClient
