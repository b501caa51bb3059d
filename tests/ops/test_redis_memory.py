"""Redis's eviction policy, read from real servers started with each one."""

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from musicdrops.ops import health, redis_memory
from musicdrops.scheduler import heartbeat
from scripts import localredis

pytestmark = pytest.mark.django_db


@pytest.fixture
def server(tmp_path: Path, request) -> Iterator[redis.Redis]:
    policy, maxmemory = request.param
    process, url = localredis.start(
        directory=tmp_path, extra_args=["--maxmemory", maxmemory, "--maxmemory-policy", policy]
    )
    try:
        yield redis.Redis.from_url(url, decode_responses=True)
    finally:
        process.kill()
        process.wait(10)


def beat_started_a_minute_ago() -> heartbeat.BeatInstance:
    started = dt.datetime.fromtimestamp(time.time() - 60, dt.UTC).isoformat(timespec="seconds")
    return dataclasses.replace(heartbeat.BeatInstance.current(), started_at=started)


@pytest.mark.parametrize(
    ("server", "evicts"),
    [
        (("allkeys-lru", "25mb"), True),
        (("allkeys-lfu", "25mb"), True),
        (("allkeys-random", "25mb"), True),
        (("volatile-lru", "25mb"), False),
        (("volatile-ttl", "25mb"), False),
        (("noeviction", "25mb"), False),
        (("allkeys-lru", "0"), False),  # no limit: nothing is ever evicted
    ],
    indirect=["server"],
)
def test_a_policy_that_can_evict_keys_without_an_expiry_is_degraded_with_the_reason(server, evicts, monkeypatch):
    heartbeat.publish(beat_started_a_minute_ago(), role="active", lock_token="t", client=server)
    monkeypatch.setattr(health, "get_client", lambda: server)
    monkeypatch.setattr(health, "_memory", None)
    server.set("redbeat::lock", "t", px=5000)

    status, body = health.health_report()

    assert (health.REDIS_MAY_EVICT in body["problems"]) is evicts
    assert body["status"] == ("degraded" if evicts else "ok")
    assert status == 200
    assert body["checks"]["redis"]["maxmemory_policy"] == server.config_get("maxmemory-policy")["maxmemory-policy"]


@pytest.mark.parametrize("server", [("allkeys-lru", "25mb")], indirect=True)
def test_a_worker_or_beat_starting_against_it_warns_once(server, monkeypatch, caplog):
    monkeypatch.setattr("musicdrops.redis_client.get_client", lambda: server)
    with caplog.at_level(logging.WARNING, logger="musicdrops.ops.redis_memory"):
        redis_memory.warn_if_redis_may_evict()
    [record] = caplog.records
    assert "maxmemory-policy is allkeys-lru" in record.getMessage()
    assert "volatile-lfu" in record.getMessage()


def test_a_redis_that_refuses_info_leaves_the_policy_unknown_and_the_probe_standing(tmp_path, monkeypatch):
    process, url = localredis.start(directory=tmp_path, extra_args=["--rename-command", "INFO", ""])
    try:
        server = redis.Redis.from_url(url, decode_responses=True)
        heartbeat.publish(beat_started_a_minute_ago(), role="active", lock_token="t", client=server)
        server.set("redbeat::lock", "t", px=5000)
        monkeypatch.setattr(health, "get_client", lambda: server)
        monkeypatch.setattr(health, "_memory", None)

        status, body = health.health_report()
    finally:
        process.kill()
        process.wait(10)
    assert (status, body["status"]) == (200, "ok")
    assert body["checks"]["redis"]["maxmemory_policy"] == "unknown"
