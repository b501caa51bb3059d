"""The Redis budget refuses a formation past the plan: check, migrate, workers and the beat say what to change."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from musicdrops.connections import FLOWER, INSPECT, budget, per_process, redis_connections

ROOT = Path(__file__).resolve().parents[1]
APP_JSON = json.loads((ROOT / "app.json").read_text())


def app_json_env() -> dict[str, str]:
    return {name: str(spec["value"]) for name, spec in APP_JSON["env"].items() if "value" in spec}


@pytest.fixture
def sized(settings):
    """The settings app.json gives: one gunicorn process of 4 threads, remote control on."""
    settings.WEB_CONCURRENCY = 1
    settings.GUNICORN_THREADS = 4
    settings.CELERY_WORKER_ENABLE_REMOTE_CONTROL = True
    settings.CELERY_BROKER_POOL_LIMIT = 2
    settings.FORMATION = ""
    return settings


def test_each_process_type_is_counted_from_its_settings(sized):
    assert per_process() == {
        "web": 4 + 2 + 2 * 2,  # a cache connection per thread, the direct client's 2, two producers of 2
        "beat": 1 + 2 + 2,  # RedBeat, the direct client (tick and heartbeat), one producer
        "worker-regular": 2 + 1 + 4 + 2 + 2 * 3,  # consumer, direct, remote control, reply producer; 2 children
        "worker-important": 15,
        "worker-drops": 15,
    }
    sized.WEB_CONCURRENCY = 3
    sized.WORKER_CONCURRENCY = {**sized.WORKER_CONCURRENCY, "drops": 4}
    assert per_process()["web"] == 30
    assert per_process()["worker-drops"] == 9 + 4 * 3


def test_lean_workers_drop_remote_control_and_the_operators_tools(sized):
    sized.CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
    sized.CELERY_BROKER_POOL_LIMIT = 1
    found = budget()
    assert found.per_process == {
        "web": 8,
        "beat": 5,
        "worker-regular": 9,
        "worker-important": 9,
        "worker-drops": 9,
    }
    assert (found.tools, found.needed) == (0, 40)


def test_the_formation_counts_each_dyno_and_the_operators_tools(sized):
    sized.FORMATION = "web=2, worker-drops=3"
    found = budget()
    assert found.formation["web"] == 2
    assert found.formation["worker-drops"] == 3
    assert found.formation["beat"] == 1
    assert found.needed == 2 * 10 + 5 + 15 + 15 + 3 * 15 + FLOWER + INSPECT


def test_no_plan_named_no_check(sized):
    sized.REDIS_MAX_CONNECTIONS = 0
    sized.WEB_CONCURRENCY = 100
    assert redis_connections() == []


def test_past_the_plan_is_an_error_that_says_what_it_needs_what_the_plan_allows_and_what_to_change(sized):
    sized.REDIS_MAX_CONNECTIONS = 80
    [error] = redis_connections()
    assert error.id == "musicdrops.E100"
    assert "needs up to 88 Redis connections" in error.msg
    assert "web 10 x 1" in error.msg
    assert "worker-drops 15 x 1" in error.msg
    assert "Flower and an inspect 28" in error.msg
    assert "REDIS_MAX_CONNECTIONS, the Redis plan's limit, is 80" in error.msg
    assert "WORKER_REMOTE_CONTROL=0" in error.msg
    assert "WEB_CONCURRENCY" in error.msg


def test_a_malformed_formation_is_an_error(sized):
    sized.REDIS_MAX_CONNECTIONS = 200
    sized.FORMATION = "web=two"
    [error] = redis_connections()
    assert error.id == "musicdrops.E101"
    assert "web=two" in error.msg
    sized.FORMATION = "worker-nobody=1"
    assert "worker-nobody=1" in redis_connections()[0].msg


@pytest.mark.django_db  # the models' checks ask PostgreSQL its version
def test_manage_py_check_fails_the_release_phase(sized):
    sized.REDIS_MAX_CONNECTIONS = 20
    with pytest.raises(SystemCheckError, match=r"needs up to 88 Redis connections"):
        call_command("check")


def test_the_plan_app_json_names_holds_what_app_json_starts(sized):
    env = app_json_env()
    sized.REDIS_MAX_CONNECTIONS = int(env["REDIS_MAX_CONNECTIONS"])
    sized.WEB_CONCURRENCY = int(env["WEB_CONCURRENCY"])
    sized.FORMATION = ",".join(f"{name}={spec['quantity']}" for name, spec in APP_JSON["formation"].items())
    assert redis_connections() == []
    assert budget().needed <= int(env["REDIS_MAX_CONNECTIONS"])


@pytest.mark.integration
def test_a_worker_and_a_beat_past_the_plan_refuse_to_start():
    # SQLite: the refusal comes before any database is needed, whichever one the run's settings name.
    env = {**os.environ, "DEBUG": "1", "REDIS_MAX_CONNECTIONS": "20", "DATABASE_URL": "sqlite://:memory:"}
    worker = [sys.executable, "-m", "celery", "-A", "musicdrops", "worker", "-Q", "drops", "--without-mingle"]
    beat = [sys.executable, "-m", "celery", "-A", "musicdrops", "beat"]
    for command in (worker, beat):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode != 0, done.stderr[-2000:]
        assert re.search(r"Refusing to start: The formation needs up to \d+ Redis connections .* is 20\.", done.stderr)
