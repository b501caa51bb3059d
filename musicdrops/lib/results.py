"""Celery's Redis result backend, trimmed to how this project reads results.

Results are only ever polled (the task-status endpoint reads
``AsyncResult.state``); nothing here blocks on ``AsyncResult.get()`` in a
request. Two connections per process follow from that, and Heroku's smallest
Redis plan has 20 for every process together:

- The backend uses the client of Django's cache: the same server,
  the same bytes in and out, so a second pool would only add sockets.
- Sending a task does not subscribe to its result channel. Celery's backend
  does so for every task it sends, ready for a ``get()`` that never comes here,
  and that subscription held a connection open in every web process.
  ``get()`` still works: it subscribes when it is called and reads any result
  stored before that.

Selected in settings.py: ``CELERY_RESULT_BACKEND = "musicdrops.lib.results:ResultBackend+" + REDIS_URL``.
"""

from typing import Any

import redis
from celery.backends.redis import RedisBackend
from django.core.cache import cache


class ResultBackend(RedisBackend):
    def _create_client(self, **params: Any) -> redis.Redis:
        # The cache's process-wide client (lib/cache.py); TLS, time-outs and pool size: settings.CACHES.
        client: redis.Redis = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
        return client

    def on_task_call(self, producer: Any, task_id: str) -> None:
        """Don't subscribe to the new task's result channel: its result is polled, not awaited."""
