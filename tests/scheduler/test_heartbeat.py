"""Heartbeats: which beats are alive, judged by their records' expiry and by RedBeat's lock."""

import datetime as dt
import json
import time

import pytest

from musicdrops.scheduler import heartbeat

pytestmark = pytest.mark.django_db

LOCK = "redbeat::lock"


def record(role: str, *, lock_token: str = "", expires_in: float = 20, started_ago: float = 60) -> tuple[str, str]:
    beat = heartbeat.BeatInstance.current()
    started = dt.datetime.fromtimestamp(time.time() - started_ago, dt.UTC).isoformat(timespec="seconds")
    fields = beat.__dict__ | {
        "role": role, "lock_token": lock_token, "expires_at": time.time() + expires_in, "started_at": started,
    }  # fmt: skip
    return beat.instance_id, json.dumps(fields)


def test_an_active_record_whose_token_the_lock_no_longer_holds_is_dead_once_the_lock_holds_another():
    dead_id, dead = record("active", lock_token="old")
    standby_id, standby = record("standby")
    records = {dead_id: dead, standby_id: standby}

    assert {b.instance_id for b in heartbeat.parse(records)} == {dead_id, standby_id}  # the lock not known
    assert {b.instance_id for b in heartbeat.parse(records, lock_token=None)} == {dead_id, standby_id}  # free
    assert {b.instance_id for b in heartbeat.parse(records, lock_token="old")} == {dead_id, standby_id}
    assert [b.instance_id for b in heartbeat.parse(records, lock_token="new")] == [standby_id]


def test_an_active_record_without_a_token_is_judged_by_its_expiry_alone():
    # An older release's beat publishes no token: nothing tells it lost the lock.
    old_id, old = record("active")
    assert [b.instance_id for b in heartbeat.parse({old_id: old}, lock_token="new")] == [old_id]


def test_a_handover_is_a_displaced_active_record_and_a_lock_no_live_record_holds():
    dead_id, dead = record("active", lock_token="old")
    standby_id, standby = record("standby")
    successor_id, successor = record("active", lock_token="new")

    took_over = heartbeat.sort_out({dead_id: dead, standby_id: standby}, lock_token="new")
    assert took_over.handover
    announced = heartbeat.sort_out({dead_id: dead, successor_id: successor}, lock_token="new")
    assert not announced.handover
    # A lock nobody we know claims, and no record it displaced: no evidence of a handover (another app? old code?).
    assert not heartbeat.sort_out({standby_id: standby}, lock_token="new").handover


def test_a_standby_started_moments_ago_is_a_newcomer_not_yet_a_second_beat(settings):
    settings.REDBEAT_LOCK_TIMEOUT, settings.CELERY_BEAT_MAX_LOOP_INTERVAL = 5, 1
    assert heartbeat.newcomer_grace() == 8
    active_id, active = record("active", lock_token="tok", started_ago=600)
    new_id, new = record("standby", started_ago=3)
    old_id, old = record("standby", started_ago=9)
    young_active_id, young_active = record("active", started_ago=1)

    beats = heartbeat.sort_out(
        {active_id: active, new_id: new, old_id: old, young_active_id: young_active}, lock_token="tok"
    )

    assert {b.instance_id for b in beats.live} == {active_id, new_id, old_id, young_active_id}
    assert [b.instance_id for b in beats.newcomers] == [new_id]
    assert {b.instance_id for b in beats.settled} == {active_id, old_id, young_active_id}


def test_an_unreadable_start_time_is_long_ago():
    new_id, new = record("standby")
    broken = json.dumps(json.loads(new) | {"started_at": "yesterday-ish"})
    assert heartbeat.sort_out({new_id: broken}, lock_token=None).newcomers == []


def test_live_beats_and_prune_read_the_lock_and_prune_drops_the_dead(redis_client):
    dead_id, dead = record("active", lock_token="old")
    expired_id, expired = record("standby", expires_in=-1)
    live_id, live = record("active", lock_token="new")
    standby_id, standby = record("standby")
    redis_client.hset(heartbeat.KEY, mapping={dead_id: dead, expired_id: expired, live_id: live, standby_id: standby})
    redis_client.set(LOCK, "old", px=5000)

    assert {b.instance_id for b in heartbeat.live_beats()} == {dead_id, standby_id}  # "old" still holds it

    redis_client.set(LOCK, "new", px=5000)
    assert {b.instance_id for b in heartbeat.live_beats()} == {live_id, standby_id}
    assert {b.instance_id for b in heartbeat.prune()} == {live_id, standby_id}
    assert set(redis_client.hkeys(heartbeat.KEY)) == {live_id, standby_id}


def test_the_lock_key_is_redbeats():
    assert heartbeat.lock_key() == LOCK
