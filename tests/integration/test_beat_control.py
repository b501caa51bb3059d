"""Pause/resume, disable/enable and run now reach a running beat on its next tick: no restart.

A real beat and a real worker; what counts is what the worker recorded
(one ScheduledRun per slot, a DuplicateDispatch for any second dispatch).
"""

import json
import re
import time

import pytest

from musicdrops.scheduler import selectors, services
from musicdrops.scheduler.models import DuplicateDispatch
from tests.integration.beats import ENTRY, active_beat, runs, worker_and_running_beat
from tests.integration.processes import Process, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def quiet_for(seconds: float, *processes: Process) -> int:
    """Let dispatches already under way land, then check nothing more arrives for ``seconds``."""
    time.sleep(1.5)
    settled = len(runs())
    time.sleep(seconds)
    for process in processes:
        assert process.popen.poll() is None, process.output()[-3000:]
    assert len(runs()) == settled, "a run was dispatched while it should not have been"
    return settled


def test_pause_resume_disable_enable_and_run_now_take_effect_without_restarting_beat(start_process, redis_client):
    worker, beat = worker_and_running_beat(start_process)

    services.schedule_pause(by="ann", reason="deploy")
    paused = quiet_for(5, beat, worker)
    assert active_beat() is not None, "paused, the beat still holds the lock and publishes its heartbeat"
    services.schedule_resume(by="ann")
    wait_until(lambda: len(runs()) > paused, 4, "a run after the resume", worker, beat)

    services.entry_set_enabled(name=ENTRY, enabled=False, by="ann")
    disabled = quiet_for(5, beat, worker)

    # Run now, while the entry is disabled: exactly one run, under the request's own slot, counted as one.
    counted = entry_status().total_run_count
    services.entry_run_now(name=ENTRY, by="ann")
    [request] = selectors.run_now_requests()
    wait_until(lambda: len(runs()) > disabled, 4, "the run-now run", worker, beat)
    wait_until(lambda: not selectors.run_now_requests(), 4, "the request to be done", beat)
    manual = runs()[-1]
    assert manual.slot == request.requested_at
    assert manual.scheduler["run_now_by"] == "ann"
    wait_until(lambda: entry_status().total_run_count == counted + 1, 4, "run now to count as a run", beat)
    last_run_at = entry_status().last_run_at
    assert last_run_at is not None
    assert last_run_at >= request.requested_at
    assert quiet_for(3, beat, worker) == disabled + 1, "run now ran once, and the disabled entry stayed quiet"

    # The same request delivered again (a beat that died between dispatching and forgetting it):
    # dispatched again, and the worker's slot claim refuses the second one.
    redis_client.hset(selectors.RUN_NOW_KEY, ENTRY, json.dumps({"requested_at": request.requested_at.isoformat(),
                                                                 "by": "ann"}))  # fmt: skip
    wait_until(lambda: DuplicateDispatch.objects.filter(reason="same-slot").exists(), 6, "the refusal", worker, beat)
    assert len(runs()) == disabled + 1

    services.entry_set_enabled(name=ENTRY, enabled=True, by="ann")
    wait_until(lambda: len(runs()) > disabled + 1, 5, "a run after enabling", worker, beat)

    assert beat.output().count("beat: Starting") == 1, "one beat process throughout"
    # The logs say which entry and slot each dispatch and each task run was for (development format).
    assert re.search(r"dispatched \S+send_music_drops_task \(task [\w-]+\) \[entry=send-music-drops slot=\S+\]",
                     beat.output())  # fmt: skip
    assert re.search(r"Task \S+send_music_drops_task\[[\w-]+\] succeeded .*\[.*task_id=[\w-]+ "
                     r"task=\S+send_music_drops_task entry=send-music-drops slot=", worker.output()), \
        worker.output()[-2000:]  # fmt: skip
    assert "schedule paused" in beat.output()
    assert "schedule resumed" in beat.output()


def entry_status() -> selectors.EntryStatus:
    return next(entry for entry in selectors.entry_statuses() if entry.name == ENTRY)
