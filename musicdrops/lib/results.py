"""Celery's Redis result backend on the cache's connection pool, for results that are polled.

Results are only ever polled (the task-status endpoint reads the task's meta);
nothing here blocks on ``AsyncResult.get()`` in a request. So:

- the backend uses the cache's pool (musicdrops/lib/cache.py): the same
  server, so a second pool would only add sockets;
- sending a task does not subscribe to its result channel. Celery's backend
  does so for every task it sends, ready for a ``get()`` that never comes here,
  and that subscription held a connection open in every web process.
  ``get()`` still works: it subscribes when it is called and reads any result
  stored before that.

Selected in settings.py: ``CELERY_RESULT_BACKEND = "musicdrops.lib.results:ResultBackend+" + REDIS_URL``.
"""

from typing import Any

import redis
from celery.backends.redis import RedisBackend

from musicdrops.lib.cache import cache_pool


def _cache_pool(**_celery_params: Any) -> redis.ConnectionPool:
    # Celery's connection parameters name the same server; the cache's pool already has its options.
    return cache_pool()


class ResultBackend(RedisBackend):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "connection_pool": _cache_pool})

    def on_task_call(self, producer: Any, task_id: str) -> None:
        """Don't subscribe to the new task's result channel: its result is polled, not awaited."""
