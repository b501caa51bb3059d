"""A pool process that dies in the middle of a task loses nothing: the task is requeued and runs again."""

import os
import signal

import pytest

from musicdrops.celery import app
from tests.integration.processes import children, procfile, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_task_whose_pool_process_is_killed_is_requeued_and_completes(start_process, redis_client):
    command = procfile()["worker-regular"] + " --include tests.integration.slow_tasks"
    worker = start_process("worker-regular", command=command)
    worker.wait_for("ready.")
    app.send_task("tests.slow_task", args=["job", 3], queue="regular")
    wait_until(lambda: redis_client.get("job:started") == "1", 30, "the task to start", worker)

    # Killed as the kernel's OOM killer would: no chance to clean up. Without late acknowledgement
    # the message would already be gone from the broker, and the task with it.
    pool = children(worker.pid)
    assert pool, worker.output()[-3000:]
    for pid in pool:
        os.kill(pid, signal.SIGKILL)

    wait_until(lambda: redis_client.get("job:finished") == "1", 60, "the requeued task to finish", worker)
    assert redis_client.get("job:started") == "2"
    assert redis_client.llen("regular") == 0
    assert "WorkerLostError" in worker.output()
