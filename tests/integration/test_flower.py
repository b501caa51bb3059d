"""Flower, `celery inspect` and `celery control` against the workers the Procfile starts (docs/operators.md).

The three workers run from the Procfile's own lines with the settings a newcomer gets (remote
control, task events and heartbeats on), against real Redis and PostgreSQL; Flower runs as
`make flower` runs it (scripts/flower.py), with basic auth, as on a platform.
"""

import json
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from musicdrops.ops.tasks import ping_queue_task
from scripts import flower
from scripts.localredis import free_port
from tests.integration.processes import ROOT, Process, child_env, procfile, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WORKERS = sorted(name for name in procfile() if name.startswith("worker-"))
QUEUES = {name: name.removeprefix("worker-") for name in WORKERS}
# `--hostname <queue>@%h`: Celery's %h is this machine's host name.
NODES = {f"{queue}@{socket.gethostname()}" for queue in QUEUES.values()}
LOGIN = ("operator", "flower-test-password")
ONLINE_WITHIN = 5
EXIT_WITHIN = 10


def start_workers(start_process: Callable[..., Process]) -> dict[str, Process]:
    workers = {name: start_process(name) for name in WORKERS}
    for worker in workers.values():
        worker.wait_for("ready.")
    return workers


def celery(*arguments: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`celery -A musicdrops ...` from the repository root, as an operator types it."""
    return subprocess.run(
        ["celery", "-A", "musicdrops", *arguments],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,  # a hang (a pool with no connection left) fails here instead of stalling the run
        check=False,
    )


def replies(*arguments: str) -> dict[str, Any]:
    """Each worker's reply by node name (inspect prints one object, control a list of them)."""
    answered = celery(*arguments, "--json", "--timeout", "2")
    assert answered.returncode == 0, answered.stdout + answered.stderr
    found = json.loads(answered.stdout)
    return dict(found) if isinstance(found, dict) else {node: reply for one in found for node, reply in one.items()}


def api(url: str, path: str, **params: str) -> object:
    response = requests.get(url + path, params=params, auth=LOGIN, timeout=10)
    response.raise_for_status()
    return response.json()


def start_flower(start_process: Callable[..., Process]) -> tuple[Process, str, float]:
    port = free_port()
    started = time.monotonic()
    process = start_process(
        "flower", command=flower.line(port=port, address="127.0.0.1"), FLOWER_BASIC_AUTH=":".join(LOGIN)
    )
    return process, f"http://127.0.0.1:{port}", started


def listed_online(url: str) -> set[str]:
    """Workers Flower lists with their queues (from `inspect`) and shows online (from their heartbeats)."""
    try:
        listed, status = api(url, "/api/workers"), api(url, "/api/workers", status="true")
    except requests.RequestException:
        return set()
    assert isinstance(listed, dict)
    assert isinstance(status, dict)
    return {name for name, alive in status.items() if alive and "active_queues" in listed.get(name, {})}


def test_flower_shows_every_worker_online_the_tasks_they_run_and_the_queues_and_stops_on_sigterm(start_process):
    start_workers(start_process)
    process, url, started = start_flower(start_process)

    wait_until(lambda: listed_online(url) == NODES, 30, "Flower to list every worker online", process)
    seconds_online = time.monotonic() - started
    print(f"Flower listed {len(NODES)} workers online {seconds_online:.2f} s after it started")
    assert seconds_online < ONLINE_WITHIN
    assert requests.get(url + "/api/workers", timeout=10).status_code == 401  # never open to anyone

    workers = api(url, "/api/workers")
    assert isinstance(workers, dict)
    assert set(workers) == NODES
    for node, info in workers.items():
        assert [queue["name"] for queue in info["active_queues"]] == [node.partition("@")[0]]

    task = ping_queue_task.apply_async(kwargs={"queue": "important"}, queue="important")

    def seen() -> dict[str, object]:
        tasks = api(url, "/api/tasks")
        assert isinstance(tasks, dict)
        return dict(tasks.get(task.id) or {})

    wait_until(lambda: seen().get("state") == "SUCCESS", 30, "Flower to show the task succeeded", process)
    shown = seen()
    assert shown["name"] == "musicdrops.ops.tasks.ping_queue_task"
    assert str(shown["worker"]).startswith("important@")
    # task-sent from whoever queued it, the rest from the worker
    assert shown["sent"]
    assert shown["received"]
    assert shown["started"]

    lengths = api(url, "/api/queues/length")
    assert isinstance(lengths, dict)
    assert {queue["name"] for queue in lengths["active_queues"]} == set(QUEUES.values())
    assert all(isinstance(queue["messages"], int) for queue in lengths["active_queues"])

    seconds = process.stop(signal.SIGTERM, timeout=30)
    print(f"Flower exited {seconds:.2f} s after SIGTERM")
    assert seconds < EXIT_WITHIN, process.output()[-3000:]


def test_celery_inspect_and_control_answer_from_every_worker(start_process):
    workers = start_workers(start_process)

    assert set(replies("inspect", "ping")) == NODES
    assert set(replies("inspect", "active")) == NODES
    queues = replies("inspect", "active_queues")
    assert {node: [queue["name"] for queue in consumed] for node, consumed in queues.items()} == {
        node: [node.partition("@")[0]] for node in NODES
    }

    revoked = replies("control", "revoke", "revoked-by-the-operator")
    assert set(revoked) == NODES
    assert all("revoked" in str(reply) for reply in revoked.values())

    # `control shutdown` sends no reply (the worker stops instead): the worker's exit is the answer.
    node = f"regular@{socket.gethostname()}"
    celery("control", "shutdown", "--destination", node)
    regular = workers["worker-regular"]
    wait_until(lambda: not regular.group_alive(), EXIT_WITHIN, "the regular worker to stop")
    assert set(replies("inspect", "ping")) == NODES - {node}
