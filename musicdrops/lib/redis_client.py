"""One place that knows how to talk to the Redis named by ``REDIS_URL``.

The broker, the result backend, RedBeat and Django's cache all connect to the
same server. Heroku's Key-Value Store only speaks TLS (``rediss://``) with a
self-signed certificate, so each of those four clients must be told not to
verify it; the options for all of them are derived here from the URL alone.
"""

import ssl
import threading
from typing import Any
from urllib.parse import urlsplit

import redis
from django.conf import settings


def is_tls(url: str) -> bool:
    return urlsplit(url).scheme == "rediss"


def celery_ssl_options(url: str) -> dict[str, Any] | None:
    """``broker_use_ssl`` / ``redis_backend_use_ssl`` / ``redbeat_redis_use_ssl``."""
    if not is_tls(url):
        return None
    # Heroku's certificates are self-signed and rotate: verification would
    # fail on every connection. The channel is still encrypted.
    return {"ssl_cert_reqs": ssl.CERT_NONE}


def client_options(url: str) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis.from_url`` / Django's RedisCache."""
    return {"ssl_cert_reqs": None} if is_tls(url) else {}


_client: redis.Redis | None = None
_client_lock = threading.Lock()


def get_client() -> redis.Redis:
    """A process-wide client (with its own small pool) for direct Redis access.

    The pool blocks instead of raising when all its connections are in use:
    gunicorn runs several threads per process, and with a plain pool the
    third concurrent /healthz probe failed with MaxConnectionsError.
    """
    global _client
    if _client is not None:
        return _client
    with _client_lock:  # two threads' first calls must not make two clients (one would close the other's socket)
        if _client is not None:
            return _client
        url = settings.REDIS_URL
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=settings.REDIS_DIRECT_MAX_CONNECTIONS,
            timeout=5,  # seconds to wait for a free connection
            socket_timeout=5,
            socket_connect_timeout=5,
            health_check_interval=30,
            decode_responses=True,
            **client_options(url),
        )
        _client = redis.Redis(connection_pool=pool)
    return _client
