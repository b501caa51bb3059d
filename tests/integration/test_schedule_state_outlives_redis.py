"""An operator's pause and switches outlive Redis: Redis killed and back empty under a real beat and worker.

The state lives in PostgreSQL; RedBeat's keys are a copy the beat writes again from there. The processes
run against a private redis-server that the drill kills and starts again empty (test_redis_restart's);
the operator's commands run as one-off processes, as `heroku run` would. What counts is what the worker
recorded: one ScheduledRun per slot of the drops entry, due every 2 s here.
"""

import time

import pytest

from musicdrops.scheduler import selectors, services
from musicdrops.scheduler.models import DuplicateDispatch, EntryState
from tests.integration.beats import ENTRY, NOWHERE, runs
from tests.integration.processes import Process, wait_until
from tests.integration.test_redis_restart import PrivateRedis, private_redis  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

QUIET_SECONDS = 10  # five slots of an entry due every 2 s
RESTORED = "written again from the database"


def quiet_for(seconds: float, *processes: Process) -> int:
    """Let dispatches already under way land, then check nothing more arrives for ``seconds``."""
    time.sleep(1.5)
    settled = len(runs())
    time.sleep(seconds)
    for process in processes:
        assert process.popen.poll() is None, process.output()[-3000:]
    assert len(runs()) == settled, f"{len(runs()) - settled} runs dispatched while none should have been"
    return settled


def test_a_pause_and_a_disabled_entry_outlive_redis_coming_back_empty(start_process, private_redis):  # noqa: F811
    server: PrivateRedis = private_redis
    env = {"MUSIC_DROPS_EVERY_SECONDS": "2", "MUSICBRAINZ_URL": NOWHERE, "REDIS_URL": server.url}
    worker = start_process("worker-drops", **env)
    worker.wait_for("ready.")
    beat = start_process("beat", **env)
    wait_until(lambda: len(runs()) >= 2, 30, "two runs", worker, beat)

    def manage(*args: str) -> str:
        """A one-off process (`heroku run python manage.py ...`) against the same Redis and database."""
        command = start_process("release", command=" ".join(["python manage.py", *args]), **env)
        assert command.popen.wait(60) == 0, command.output()
        return str(command.output())

    def restart_empty() -> float:
        """Redis killed, back empty 5 s later; the seconds from its return until the beat restored the schedule."""
        before = beat.output().count(RESTORED)
        server.restart_empty()
        back = time.monotonic()
        wait_until(lambda: beat.output().count(RESTORED) > before, 15, "the beat to restore the schedule", beat)
        return time.monotonic() - back

    # Paused from a terminal during an incident; then Redis loses everything: the schedule stays paused.
    assert "schedule paused" in manage("pause_schedule", "--reason", "incident", "--by", "ann")
    time.sleep(1.5)
    restored_in = restart_empty()
    assert server.client().get(selectors.PAUSE_KEY), "the pause is back in Redis's copy"
    paused = quiet_for(QUIET_SECONDS, beat, worker)
    status = manage("scheduler_status")
    assert "Schedule: PAUSED since" in status
    [restored] = [line for line in status.splitlines() if "restored from the database after Redis lost" in line]
    assert "8 entries, paused" in restored, restored

    assert "schedule resumed" in manage("pause_schedule", "--resume", "--by", "ann")
    resumed = time.monotonic()
    wait_until(lambda: len(runs()) > paused, 5, "a run after the resume", worker, beat)
    first_run = time.monotonic() - resumed
    wait_until(lambda: len(runs()) >= paused + 3, 10, "the entry to run on", worker, beat)

    # Disabled as the Scheduler page does; then Redis loses everything again: it stays disabled.
    assert services.entry_set_enabled(name=ENTRY, enabled=False, by="ann", client=server.client())
    time.sleep(1.5)
    restart_empty()
    disabled = quiet_for(QUIET_SECONDS, beat, worker)
    [entry] = [e for e in selectors.entry_statuses(client=server.client()) if e.name == ENTRY]
    assert entry.loaded
    assert not entry.enabled
    assert "DISABLED by ann" in manage("scheduler_status")

    assert services.entry_set_enabled(name=ENTRY, enabled=True, by="ann", client=server.client())
    wait_until(lambda: len(runs()) > disabled, 5, "a run after enabling", worker, beat)

    # Neither paused nor disabled: the slot that fell due while Redis was away runs once, and the entry runs on.
    before = len(runs())
    saved = EntryState.objects.get(name=ENTRY).last_run_at
    assert saved is not None
    restart_empty()
    wait_until(lambda: len(runs()) >= before + 3, 15, "runs after the last restart", worker, beat)
    after = [run.slot for run in runs()[before:]]
    assert after[0] > saved, "no slot before the restart is sent again"
    assert not DuplicateDispatch.objects.exists(), list(DuplicateDispatch.objects.values())
    assert beat.output().count("beat: Starting") == 1, "one beat process throughout"
    print(
        f"\nRedis back empty: the beat restored the schedule {restored_in:.2f} s after Redis returned; paused, "
        f"{QUIET_SECONDS} s without a run; the first run {first_run:.2f} s after the resume; disabled, "
        f"{QUIET_SECONDS} s without a run; not paused: slots {[f'{s:%H:%M:%S}' for s in after]} after the restart "
        f"(last before it {saved:%H:%M:%S}); {len(runs())} runs, 0 duplicate dispatches"
    )
