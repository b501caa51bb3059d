"""The options every client of the one Redis (broker, results, RedBeat, cache) derives from ``REDIS_URL``."""

import ssl
import threading
from typing import Any
from urllib.parse import urlsplit

import redis
from django.conf import settings


def is_tls(url: str) -> bool:
    return urlsplit(url).scheme == "rediss"


def celery_ssl_options(url: str) -> dict[str, Any] | None:
    if not is_tls(url):
        return None
    # Heroku's certificates are self-signed and rotate; the channel is still encrypted.
    return {"ssl_cert_reqs": ssl.CERT_NONE}


def client_options(url: str) -> dict[str, Any]:
    return {"ssl_cert_reqs": None} if is_tls(url) else {}


_client: redis.Redis | None = None
_client_lock = threading.Lock()


def get_client() -> redis.Redis:
    """A process-wide client for direct Redis access; gunicorn's threads wait for its few connections."""
    global _client
    if _client is not None:
        return _client
    with _client_lock:
        if _client is not None:
            return _client
        url = settings.REDIS_URL
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=settings.REDIS_DIRECT_MAX_CONNECTIONS,
            timeout=5,
            socket_timeout=5,
            socket_connect_timeout=5,
            health_check_interval=30,
            decode_responses=True,
            **client_options(url),
        )
        _client = redis.Redis(connection_pool=pool)
    return _client
