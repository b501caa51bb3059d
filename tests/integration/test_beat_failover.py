"""Beat failover and lock loss, with real beats, a real worker, Redis and the database.

The figures are printed (pytest -s): the measured failover time of each run.
"""

import itertools
import signal
import time

import pytest
from django.utils import timezone

from musicdrops.scheduler import heartbeat
from musicdrops.scheduler.models import DuplicateDispatch
from tests.integration.beats import NOWHERE, active_beat, beat_with_pid, next_due, runs, worker_and_running_beat
from tests.integration.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

INTERVAL = 10  # seconds; longer than a failover, so each slot is either on time or caught up once


def test_a_standby_dispatches_within_10_s_of_the_active_beat_being_killed_no_slot_lost_or_doubled(start_process):
    env = {"MUSIC_DROPS_EVERY_SECONDS": str(INTERVAL), "MUSICBRAINZ_URL": NOWHERE}
    worker = start_process("worker-drops", **env)
    worker.wait_for("ready.")
    beats = [start_process("beat", **env) for _ in range(2)]
    wait_until(lambda: len(heartbeat.live_beats()) == 2 and active_beat(), 30, "two beats, one active", *beats)
    wait_until(lambda: len(runs()) >= 2, 3 * INTERVAL, "two runs", worker, *beats)

    holder = active_beat()
    assert holder is not None
    [victim] = [process for process in beats if process.pid == holder.pid]
    [survivor] = [process for process in beats if process is not victim]
    standby = beat_with_pid(survivor.pid)
    assert standby is not None
    assert standby.role == "standby"
    # Kill it just before a run is due: the standby must catch that very run up.
    due = next_due()
    time.sleep(max(0.0, (due - timezone.now()).total_seconds() - 1.0))
    killed_at = timezone.now()
    victim.stop(signal.SIGKILL)

    wait_until(lambda: runs(by=standby.instance_id), 20, "the standby's first run", worker, survivor)
    first = runs(by=standby.instance_id)[0]
    failover = (first.received_at - killed_at).total_seconds()
    wait_until(lambda: len(runs(by=standby.instance_id)) >= 2, 2 * INTERVAL, "a second run", worker, survivor)

    slots = [run.slot for run in runs()]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(slots)]
    print(
        f"\nfailover: killed {(due - killed_at).total_seconds():.2f} s before a run was due; the standby's first run "
        f"arrived {failover:.2f} s after the kill; {len(slots)} slots, gaps {[round(gap, 2) for gap in gaps]} s"
    )
    assert failover < 10
    assert first.slot == due, "the run due during the failover was caught up under its own slot"
    assert not DuplicateDispatch.objects.exists(), "no slot was dispatched twice"
    # Consecutive runs: never closer than the interval (doubled), never a whole interval apart too many (lost).
    assert all(INTERVAL - 0.01 <= gap < 2 * INTERVAL for gap in gaps), gaps
    assert active_beat() == beat_with_pid(survivor.pid)


def test_a_beat_whose_lock_is_stolen_or_deleted_stands_by_and_comes_back_in_process(start_process, redis_client):
    worker, beat = worker_and_running_beat(start_process)

    # Another process takes the lock (as a beat that got it after this one stalled would), for
    # 8 s: the standby lasts that long, and the test must see it on a loaded 2-core machine.
    redis_client.set(heartbeat.lock_key(), "an-intruder", px=8000)
    beat.wait_for("lost redbeat::lock", timeout=5)
    wait_until(lambda: getattr(beat_with_pid(beat.pid), "role", "") == "standby", 7, "it to stand by", beat)
    beat.wait_for("holds redbeat::lock again", timeout=15)
    during = len(runs())
    wait_until(lambda: len(runs()) > during, 10, "a run after the lock came back", worker, beat)
    log = beat.output()
    standing_by = log[log.index("lost redbeat::lock") : log.index("holds redbeat::lock again")]
    assert "dispatched" not in standing_by, "it dispatched while another process held the lock"

    # The key deleted outright (a FLUSHDB, a Redis failover): the beat takes it again at once.
    redis_client.delete(heartbeat.lock_key())
    wait_until(lambda: beat.output().count("holds redbeat::lock again") == 2, 10, "the second recovery", beat)
    count = len(runs())
    wait_until(lambda: len(runs()) > count, 10, "runs to go on", worker, beat)

    assert beat.popen.poll() is None, "the beat never exited"
    assert beat.output().count("beat: Starting") == 1
    assert not DuplicateDispatch.objects.exists()
    print(f"\nlock stolen for 8 s, then deleted: {len(runs())} runs, one beat process throughout")


def test_a_beat_paused_past_its_lock_timeout_hands_over_and_stands_by_when_it_wakes(start_process):
    """RedBeat's LockNotOwnedError: the lock expired while its beat slept. No crash, no second active beat."""
    env = {"MUSIC_DROPS_EVERY_SECONDS": "2", "MUSICBRAINZ_URL": NOWHERE}
    worker = start_process("worker-drops", **env)
    worker.wait_for("ready.")
    beats = [start_process("beat", **env) for _ in range(2)]
    wait_until(lambda: len(heartbeat.live_beats()) == 2 and active_beat(), 30, "two beats, one active", *beats)
    holder = active_beat()
    assert holder is not None
    [sleeper] = [process for process in beats if process.pid == holder.pid]
    [standby] = [process for process in beats if process is not sleeper]

    sleeper.send_signal(signal.SIGSTOP)  # a long GC pause, a frozen VM: longer than the lock lasts
    paused_at = time.monotonic()
    wait_until(lambda: getattr(active_beat(), "pid", None) == standby.pid, 15, "the standby to take over", standby)
    took_over = time.monotonic() - paused_at
    time.sleep(3)
    sleeper.send_signal(signal.SIGCONT)
    sleeper.wait_for("lost redbeat::lock", timeout=10)
    wait_until(lambda: getattr(beat_with_pid(sleeper.pid), "role", "") == "standby", 10, "it to stand by", sleeper)
    during = len(runs())
    wait_until(lambda: len(runs()) >= during + 2, 10, "runs to go on", worker, standby)

    print(f"\npaused {took_over + 3:.1f} s: the standby took over {took_over:.1f} s after the pause")
    assert took_over < 10, "within the failover bar"
    assert sleeper.popen.poll() is None, "the woken beat did not crash"
    assert sleeper.output().count("beat: Starting") == 1, "nor was it restarted"
    assert "Traceback" not in sleeper.output(), "a lost lock is one warning line, not a crash report"
    assert getattr(active_beat(), "pid", None) == standby.pid, "one active beat: the one that took over"
    assert not DuplicateDispatch.objects.exists(), "no slot dispatched twice"
