"""Locally (`make run`), a beat that loses its lock or crashes never takes the app down.

A lost lock is handled inside the beat process (it stands by, then takes the
lock again); a crashed beat is restarted by scripts/devstack.py, as the platform
restarts a dyno. The web keeps answering throughout.
"""

import os
import signal
import sys

import pytest
import requests

from musicdrops.scheduler import heartbeat
from scripts.localredis import free_port
from tests.integration.beats import active_beat
from tests.integration.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_lost_lock_and_a_killed_beat_leave_the_app_running(start_process, redis_client):
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    stack = start_process("devstack", command=f"{sys.executable} scripts/devstack.py", PORT=str(port), SITE_URL=site)
    stack.wait_for("MusicDrops is running at", timeout=120)

    def health() -> str:
        return str(requests.get(f"{site}/healthz", timeout=5).json()["status"])

    wait_until(lambda: health() == "ok", 30, "/healthz ok", stack)
    first = active_beat()
    assert first is not None

    # The lock vanishes (a Redis restart, a FLUSHDB): the same beat process takes it again.
    redis_client.delete(heartbeat.lock_key())
    stack.wait_for("holds redbeat::lock again", timeout=15)
    wait_until(lambda: health() == "ok", 15, "/healthz ok again", stack)
    assert getattr(active_beat(), "instance_id", None) == first.instance_id, "the same beat process"
    assert "exited unexpectedly" not in stack.output()

    # The beat dies: make run restarts it, and the new one takes over once the old lock expires.
    os.kill(first.pid, signal.SIGKILL)
    stack.wait_for("exited unexpectedly", timeout=10)
    wait_until(lambda: getattr(active_beat(), "pid", first.pid) != first.pid, 30, "a new beat to take over", stack)
    assert requests.get(f"{site}/healthz", timeout=5).status_code == 200, "web served throughout"
    # The dead beat's heartbeat lingers until its TTL: degraded ("several-beats") until then, then ok.
    wait_until(lambda: health() == "ok", heartbeat_ttl() + 10, "/healthz ok after the restart", stack)

    restarted = [line for line in stack.output().splitlines() if "exited unexpectedly" in line]
    assert len(restarted) == 1
    assert " beat " in restarted[0]
    assert stack.popen.poll() is None


def heartbeat_ttl() -> float:
    from django.conf import settings

    return float(settings.BEAT_HEARTBEAT_TTL)


def test_heartbeats_expire(redis_client):
    # The TTL the test above waits out is the one the beats publish with.
    heartbeat.publish(heartbeat.BeatInstance.current(), role="standby")

    assert 0 < redis_client.ttl(heartbeat.KEY) <= heartbeat_ttl()
