"""One request rate for every process, kept in Redis (Celery's ``rate_limit`` counts per worker); docs/catalog.md."""

import math
import time
from collections.abc import Callable

import redis

from musicdrops.redis_client import get_client

# Integer microseconds on Redis's clock: exact in a Lua double, and the same for every process.
# KEYS[1] next allowed start; ARGV[1] interval; ARGV[2] longest wait accepted, negative for no limit.
# Returns {reserved (1 or 0), wait}: a caller that gives up leaves no unused slot to delay everyone after it.
_ACQUIRE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or 0))
local wait = slot - now
local longest = tonumber(ARGV[2])
if longest >= 0 and wait > longest then
  return {0, wait}
end
local next_allowed = slot + tonumber(ARGV[1])
-- '%.0f': tostring() would write a 16-digit number in exponent form and lose digits.
-- The key only matters until next_allowed has passed, so it expires soon after.
redis.call('SET', KEYS[1], string.format('%.0f', next_allowed),
           'PX', math.ceil((next_allowed - now) / 1000) + 1000)
return {1, wait}
"""

# As _ACQUIRE, plus a GCRA lane: KEYS[2] its arrival time, ARGV[3] its interval, ARGV[4] how far ahead it may run.
_ACQUIRE_AHEAD = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local tat = math.max(now, tonumber(redis.call('GET', KEYS[2]) or 0))
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or 0))
if tat - now <= tonumber(ARGV[4]) then
  local new_tat = tat + tonumber(ARGV[3])
  redis.call('SET', KEYS[2], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
  redis.call('SET', KEYS[1], string.format('%.0f', slot + interval),
             'PX', math.ceil((slot + interval - now) / 1000) + 1000)
  return {1, 0}
end
local wait = slot - now
local longest = tonumber(ARGV[2])
if longest >= 0 and wait > longest then
  return {0, wait}
end
redis.call('SET', KEYS[1], string.format('%.0f', slot + interval),
           'PX', math.ceil((slot + interval - now) / 1000) + 1000)
return {1, wait}
"""

# Only ever moves KEYS[1] later: a short Retry-After must not cancel a longer one another process honoured.
_PAUSE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local resume_at = now + tonumber(ARGV[1])
local stored = tonumber(redis.call('GET', KEYS[1]) or 0)
if stored >= resume_at then
  return 0
end
redis.call('SET', KEYS[1], string.format('%.0f', resume_at),
           'PX', math.ceil((resume_at - now) / 1000) + 1000)
return 1
"""

_MICROSECONDS = 1_000_000


class RateLimitTimeout(Exception):
    """The caller would have had to wait longer than its ``timeout``; no slot was taken."""

    def __init__(self, key: str, wait: float, timeout: float) -> None:
        super().__init__(f"rate limit {key!r}: next slot in {wait:.3f} s, longer than the {timeout:.3f} s allowed")
        self.key = key
        self.wait = wait
        self.timeout = timeout


class RateLimiter:
    """At most ``per_second`` calls of ``acquire()`` go through per second, across every process using ``key``."""

    def __init__(
        self,
        key: str,
        per_second: float,
        client: redis.Redis | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        ahead_per_second: float = 0.0,
        ahead_burst: int = 5,
    ) -> None:
        if not (math.isfinite(per_second) and per_second > 0):
            raise ValueError(f"per_second must be a positive number, not {per_second!r}")
        self.key = key
        self.per_second = per_second
        self._interval_us = max(1, round(_MICROSECONDS / per_second))
        self._client = client if client is not None else get_client()
        self._sleep = sleep
        # register_script reloads the script by itself if Redis lost it (a restart, a failover).
        self._acquire = self._client.register_script(_ACQUIRE)
        self._acquire_ahead = self._client.register_script(_ACQUIRE_AHEAD)
        self._pause = self._client.register_script(_PAUSE)
        self._ahead_interval_us = round(_MICROSECONDS / ahead_per_second) if ahead_per_second > 0 else 0
        self._ahead_tolerance_us = self._ahead_interval_us * max(0, ahead_burst - 1)

    def acquire(self, *, timeout: float | None = None, ahead: bool = False) -> float:
        """Wait for this caller's slot; return the seconds waited. Redis errors propagate: no budget, no request.

        ``timeout``: raise ``RateLimitTimeout`` at once, taking no slot; ``ahead``: go first while the lane allows.
        """
        longest = -1 if timeout is None else max(0, math.floor(timeout * _MICROSECONDS))
        if ahead and self._ahead_interval_us:
            reserved, wait_us = self._acquire_ahead(
                keys=[self.key, f"{self.key}:ahead"],
                args=[self._interval_us, longest, self._ahead_interval_us, self._ahead_tolerance_us],
            )
        else:
            reserved, wait_us = self._acquire(keys=[self.key], args=[self._interval_us, longest])
        wait = int(wait_us) / _MICROSECONDS
        if not int(reserved):
            raise RateLimitTimeout(self.key, wait, timeout or 0.0)
        if wait > 0:
            self._sleep(wait)
        return wait

    def pause(self, seconds: float) -> None:
        """Let nobody start a request for ``seconds`` from now; never brings the next allowed time earlier."""
        if not math.isfinite(seconds) or seconds <= 0:
            return
        self._pause(keys=[self.key], args=[math.ceil(seconds * _MICROSECONDS)])
