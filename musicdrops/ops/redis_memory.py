"""Whether a full Redis could evict what must not be lost (redis-may-evict): queued tasks and the schedule have no
expiry, so only ``allkeys-*`` policies threaten them. Read from ``INFO memory``, which managed plans allow."""

import logging
from dataclasses import dataclass
from typing import Any

import redis

logger = logging.getLogger(__name__)

EVICTS_ANY_KEY = frozenset({"allkeys-lru", "allkeys-lfu", "allkeys-random"})
ADVICE = "set maxmemory-policy to volatile-lfu (or noeviction with room to spare): see docs/platforms.md"


@dataclass(frozen=True)
class Memory:
    policy: str
    maxmemory: int  # bytes; 0: no limit
    used: int  # bytes

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> "Memory":
        return cls(
            policy=str(info.get("maxmemory_policy", "unknown")),
            maxmemory=int(info.get("maxmemory") or 0),
            used=int(info.get("used_memory") or 0),
        )

    @property
    def may_evict(self) -> bool:
        """A full Redis may evict keys without an expiry: queued tasks, the schedule."""
        return self.policy in EVICTS_ANY_KEY and self.maxmemory > 0

    def as_dict(self) -> dict[str, Any]:
        return {"maxmemory_policy": self.policy, "maxmemory": self.maxmemory, "used_memory": self.used}


def redis_memory(client: redis.Redis) -> Memory:
    return Memory.from_info(client.info("memory"))


def warn_if_redis_may_evict(**_: Any) -> None:
    """At a worker's or the beat's start (Celery's worker_ready, beat_init): one warning, if it applies."""
    from musicdrops.redis_client import get_client

    try:
        memory = redis_memory(get_client())
    except redis.RedisError as error:
        logger.warning("could not read Redis's maxmemory-policy: %s", error)
        return
    if memory.may_evict:
        logger.warning(
            "Redis may evict queued tasks and the schedule when full: maxmemory-policy is %s (maxmemory %d bytes); %s",
            memory.policy, memory.maxmemory, ADVICE,
        )  # fmt: skip
