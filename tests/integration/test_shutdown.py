"""SIGTERM, as a deploy sends it to every process of a dyno: each process type exits within 10 s, no task is lost."""

import signal

import pytest

from musicdrops.celery import app
from scripts.localredis import free_port
from tests.integration.processes import procfile, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

READY = {"web": "Booting worker", "beat": "beat: Starting", "worker-regular": "ready.", "worker-important": "ready."}


@pytest.mark.parametrize("name", list(READY))
def test_every_process_type_exits_within_ten_seconds_of_sigterm(start_process, name):
    process = start_process(name, PORT=str(free_port()))
    process.wait_for(READY[name])

    seconds = process.stop(signal.SIGTERM, timeout=30)

    print(f"{name} exited {seconds:.2f} s after SIGTERM")
    assert seconds < 10, process.output()[-3000:]


@pytest.mark.parametrize("whole_group", [True, False], ids=["heroku-every-process", "docker-main-process-only"])
def test_a_task_interrupted_by_sigterm_is_requeued_and_completes_once(start_process, redis_client, whole_group):
    command = procfile()["worker-regular"] + " --include tests.integration.slow_tasks"
    worker = start_process("worker-regular", command=command)
    worker.wait_for("ready.")
    app.send_task("tests.slow_task", args=["job", 15], queue="regular")
    wait_until(lambda: redis_client.get("job:started") == "1", 30, "the task to start", worker)

    if whole_group:  # Heroku signals every process in the dyno, the pool's children too
        seconds = worker.stop(signal.SIGTERM, timeout=30)
    else:  # `docker stop` signals PID 1 only
        worker.popen.send_signal(signal.SIGTERM)
        seconds = worker.stop(signal.SIGCONT, timeout=30)
    print(f"busy worker exited {seconds:.2f} s after SIGTERM ({'group' if whole_group else 'main process'})")
    assert seconds < 10, worker.output()[-3000:]
    assert redis_client.get("job:finished") is None

    replacement = start_process("worker-regular", command=command)
    wait_until(lambda: redis_client.get("job:finished") == "1", 60, "the requeued task to finish", replacement)
    assert redis_client.get("job:started") == "2"
    assert redis_client.llen("regular") == 0
