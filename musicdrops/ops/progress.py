"""Is the work getting done: the daily send's overdue users, the Celery queues, the workers.

/healthz reads all of it within its one query and its one Redis round trip
(musicdrops/ops/health.py); ``scheduler_status`` reads it here, with the ORM
and one Redis call. selectors.scheduler_problems judges both the same way.

The broker, as kombu's Redis transport keeps it: a queue is a list (LPUSH to
publish, BRPOP from the right to consume, so its oldest message is at index
-1); a message a worker took but has not acknowledged is in the hash
``unacked`` and the sorted set ``unacked_index`` (score: when it was
delivered). Both are read by one Lua script, so only numbers come back: no
message crosses the network, and garbage in a list (not JSON, not UTF-8)
cannot break the probe's decoding.
"""

import datetime as dt
import functools
import hashlib
import time
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from kombu.transport.redis import Channel

from musicdrops.drops.models import Delivery, DropSend
from musicdrops.lib.redis_client import get_client
from musicdrops.ops.publish_time import ETA, PUBLISHED_AT

OVERDUE_WINDOW = dt.timedelta(hours=48)  # older than this, a due user or a fan-out is an abandoned day: no alarm
OVERDUE_COUNTED_UP_TO = 1000  # /healthz counts overdue users up to this (it means "this many or more")


@dataclass(frozen=True)
class DropsProgress:
    overdue_users: int  # due for longer than DROPS_OVERDUE_SECONDS
    unfinished_fan_outs: int  # started longer than DROPS_OVERDUE_SECONDS ago, never fanned out
    oldest_overdue_seconds: float | None

    @property
    def overdue(self) -> int:
        return self.overdue_users + self.unfinished_fan_outs

    def as_dict(self) -> dict[str, Any]:
        return {
            "overdue": self.overdue,
            "oldest_overdue_seconds": _rounded(self.oldest_overdue_seconds),
            "unfinished_fan_outs": self.unfinished_fan_outs,
        }

    @classmethod
    def from_values(
        cls, *, users: int, fan_outs: int, oldest: list[dt.datetime | str | None], now: dt.datetime
    ) -> "DropsProgress":
        moments = [moment for value in oldest if (moment := _as_datetime(value)) is not None]
        age = (now - min(moments)).total_seconds() if moments else None
        return cls(overdue_users=int(users), unfinished_fan_outs=int(fan_outs), oldest_overdue_seconds=age)


def overdue_bounds(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """(since, before): what was due or started in between is overdue."""
    return now - OVERDUE_WINDOW, now - dt.timedelta(seconds=settings.DROPS_OVERDUE_SECONDS)


def drops_progress(*, now: dt.datetime | None = None) -> DropsProgress:
    """The ORM's version of health.py's hand-written query, for everything but /healthz."""
    now = now or timezone.now()
    since, before = overdue_bounds(now)
    users = Delivery.objects.filter(status=Delivery.Status.DUE, queued_at__gte=since, queued_at__lt=before).aggregate(
        n=Count("id"), oldest=Min("queued_at")
    )
    sends = DropSend.objects.filter(fanned_out_at__isnull=True, started_at__gte=since, started_at__lt=before).aggregate(
        n=Count("id"), oldest=Min("started_at")
    )
    return DropsProgress.from_values(
        users=users["n"], fan_outs=sends["n"], oldest=[users["oldest"], sends["oldest"]], now=now
    )


# KEYS: the queues, then unacked_index, unacked. ARGV: the publish-time header, the ETA header.
# Returns depth and oldest publish time per queue, then the unacknowledged count and the earliest
# moment one of them should have been running since (its delivery, or its ETA if later).
BROKER_SCRIPT = """
local function decoded(raw)
  if type(raw) ~= 'string' then return nil end
  local ok, value = pcall(cjson.decode, raw)
  if ok and type(value) == 'table' then return value end
  return nil
end
local function header(message, name)
  if type(message) ~= 'table' or type(message.headers) ~= 'table' then return nil end
  local value = message.headers[name]
  if type(value) == 'number' then return value end
  return nil
end
local reply = {}
local queues = #KEYS - 2
for i = 1, queues do
  local depth, oldest = 0, false
  if redis.call('TYPE', KEYS[i]).ok == 'list' then
    depth = redis.call('LLEN', KEYS[i])
    local published = header(decoded(redis.call('LINDEX', KEYS[i], -1)), ARGV[1])
    if published then oldest = string.format('%.3f', published) end
  end
  reply[#reply + 1] = depth
  reply[#reply + 1] = oldest
end
local index, unacked = KEYS[queues + 1], KEYS[queues + 2]
local count, due = 0, nil
if redis.call('TYPE', index).ok == 'zset' then
  local messages = redis.call('TYPE', unacked).ok == 'hash'
  count = redis.call('ZCARD', index)
  local entries = redis.call('ZRANGE', index, 0, 9, 'WITHSCORES')
  for i = 1, #entries, 2 do
    local since = tonumber(entries[i + 1]) or 0
    if due and since >= due then break end  -- in score order: nothing further on can be due earlier
    if messages then
      local entry = decoded(redis.call('HGET', unacked, entries[i]))
      local eta = entry and header(entry[1], ARGV[2])
      if eta and eta > since then since = eta end
    end
    if not due or since < due then due = since end
  end
end
reply[#reply + 1] = count
reply[#reply + 1] = due and string.format('%.3f', due) or false
return reply
"""


@dataclass(frozen=True)
class QueueState:
    depth: int
    oldest_seconds: float | None  # None: empty, or its oldest message has no publish time (older code, garbage)

    def as_dict(self) -> dict[str, Any]:
        return {"depth": self.depth, "oldest_seconds": _rounded(self.oldest_seconds)}


@dataclass(frozen=True)
class BrokerState:
    queues: dict[str, QueueState]
    unacked: int
    # How long the oldest unacknowledged message has been due to run: since its delivery, or its ETA
    # if later (0 while every one of them waits for its ETA). None: nothing unacknowledged.
    oldest_unacked_seconds: float | None

    def stuck_queues(self) -> list[str]:
        limit = settings.QUEUE_AGE_ALERT_SECONDS
        return [name for name, queue in self.queues.items() if (queue.oldest_seconds or 0) > limit]

    @property
    def stalled(self) -> bool:
        """Nothing of ours may run longer than the hard time limit: its worker is frozen, dead or wedged."""
        limit = settings.CELERY_TASK_TIME_LIMIT + settings.WORKER_STALL_MARGIN_SECONDS
        return (self.oldest_unacked_seconds or 0) > limit

    def queues_as_dict(self) -> dict[str, Any]:
        return {name: queue.as_dict() for name, queue in self.queues.items()}

    def workers_as_dict(self) -> dict[str, Any]:
        return {"unacked": self.unacked, "oldest_unacked_seconds": _rounded(self.oldest_unacked_seconds)}


def queue_names() -> list[str]:
    return [settings.QUEUE_REGULAR, settings.QUEUE_IMPORTANT, settings.QUEUE_DROPS]


@functools.cache
def script_sha(script: str) -> str:
    """EVALSHA's name for a script: the probe sends 40 bytes instead of the script."""
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()


def broker_script_args() -> tuple[Any, ...]:
    """EVAL's arguments after the script: the key names as the transport options (and kombu's defaults) make them."""
    options: dict[str, Any] = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    prefix = options.get("global_keyprefix", Channel.global_keyprefix)
    unacked_index = options.get("unacked_index_key", Channel.unacked_index_key)
    unacked = options.get("unacked_key", Channel.unacked_key)
    keys = [prefix + name for name in [*queue_names(), unacked_index, unacked]]
    return (len(keys), *keys, PUBLISHED_AT, ETA)


def broker_state_from(reply: Any, *, now: float | None = None) -> BrokerState:
    """BROKER_SCRIPT's answer; ValueError if it is not one."""
    now = time.time() if now is None else now
    names = queue_names()
    if not isinstance(reply, list) or len(reply) != 2 * len(names) + 2:
        raise ValueError(f"not an answer of the broker script: {reply!r:.100}")
    queues = {
        name: QueueState(depth=int(reply[2 * i]), oldest_seconds=_age(reply[2 * i + 1], now))
        for i, name in enumerate(names)
    }
    return BrokerState(queues=queues, unacked=int(reply[-2]), oldest_unacked_seconds=_age(reply[-1], now))


def broker_state(*, client: redis.Redis | None = None) -> BrokerState:
    return broker_state_from((client or get_client()).eval(BROKER_SCRIPT, *broker_script_args()))


def _age(epoch: str | None, now: float) -> float | None:
    # Clocks of other hosts may run a little ahead: never a negative age.
    return None if epoch is None else max(0.0, now - float(epoch))


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def _as_datetime(value: dt.datetime | str | None) -> dt.datetime | None:
    # PostgreSQL answers a raw query with datetimes, SQLite with text (in UTC, as Django stores it).
    moment = parse_datetime(value) if isinstance(value, str) else value
    if moment is not None and timezone.is_naive(moment):
        moment = moment.replace(tzinfo=dt.UTC)
    return moment
