"""A fixed-window counter in the cache, for limiting how often an action runs."""

import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)


def allow(key: str, *, limit: int, period: int) -> bool:
    """Count one more use of ``key``; False once it exceeds ``limit`` within ``period`` s."""
    full_key = f"throttle:{key}"
    try:
        cache.add(full_key, 0, timeout=period)
        return cache.incr(full_key) <= limit
    except Exception:
        # Without Redis nothing can be queued either; let the caller's own
        # error handling speak instead of failing the page here.
        logger.warning("throttle unavailable for %s", key, exc_info=True)
        return True
