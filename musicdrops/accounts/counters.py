"""Counters in the cache (Redis, shared by every process) for limiting how often an action runs."""

import logging
import math
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)


class Throttled(Exception):
    """Too many attempts; the caller answers "try again in ``seconds``" (HTTP 429)."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"throttled for {seconds} s")
        self.seconds = seconds


def allow(key: str, *, limit: int, period: int) -> bool:
    """Count one more use of ``key``; False once it exceeds ``limit`` within ``period`` s."""
    full_key = f"throttle:{key}"
    try:
        cache.add(full_key, 0, timeout=period)
        return cache.incr(full_key) <= limit
    except Exception:
        # Without Redis nothing can be queued either: let the caller's own error handling speak.
        logger.warning("throttle unavailable for %s", key, exc_info=True)
        return True


def hit(key: str, *, limit: int, period: int) -> None:
    """Count one use of ``key``; the ``limit``-th use within ``period`` s blocks it for ``period`` s."""
    counter = f"throttle:{key}"
    try:
        cache.add(counter, 0, timeout=period)
        if cache.incr(counter) >= limit:
            # add, not set: more tries while blocked do not push the end further away.
            cache.add(f"{counter}:until", time.time() + period, timeout=period)
    except Exception:
        logger.warning("throttle unavailable for %s", key, exc_info=True)  # as in allow()


def blocked_for(*keys: str) -> int:
    """Seconds until none of ``keys`` is blocked any more; 0 when none is."""
    try:
        ends: list[float] = list(cache.get_many([f"throttle:{key}:until" for key in keys]).values())
    except Exception:
        logger.warning("throttle unavailable for %s", keys, exc_info=True)
        return 0
    return max([0, *(math.ceil(end - time.time()) for end in ends)])


def clear(*keys: str) -> None:
    try:
        cache.delete_many([name for key in keys for name in (f"throttle:{key}", f"throttle:{key}:until")])
    except Exception:
        logger.warning("throttle unavailable for %s", keys, exc_info=True)
