"""Watching real beat processes from a test: who holds the lock, and what the worker recorded."""

import datetime as dt
from collections.abc import Callable

from redbeat.schedulers import RedBeatSchedulerEntry

from musicdrops.celery import app
from musicdrops.scheduler import heartbeat, selectors
from musicdrops.scheduler.models import ScheduledRun
from tests.integration.processes import Process, wait_until

ENTRY = "send-music-drops"
NOWHERE = "http://127.0.0.1:9/ws/2"  # no MusicBrainz: these tests are about the scheduler


def worker_and_running_beat(start_process: Callable[..., Process]) -> tuple[Process, Process]:
    """A drops worker and one beat sending the drops every 2 s, once the beat holds the lock and two runs happened."""
    env = {"MUSIC_DROPS_EVERY_SECONDS": "2", "MUSICBRAINZ_URL": NOWHERE}
    worker = start_process("worker-drops", **env)
    worker.wait_for("ready.")
    beat = start_process("beat", **env)
    wait_until(lambda: active_beat() is not None, 30, "the beat to take the lock", beat)
    wait_until(lambda: len(runs()) >= 2, 10, "two runs", worker, beat)
    return worker, beat


def active_beat() -> heartbeat.BeatInstance | None:
    """The beat that holds RedBeat's lock and says so in its heartbeat."""
    return selectors.lock_holder(beats=heartbeat.live_beats()).beat


def beat_with_pid(pid: int) -> heartbeat.BeatInstance | None:
    return next((beat for beat in heartbeat.live_beats() if beat.pid == pid), None)


def runs(*, by: str | None = None) -> list[ScheduledRun]:
    """The runs of the drops entry the worker claimed (one row per slot), oldest slot first."""
    rows = ScheduledRun.objects.filter(entry=ENTRY).order_by("slot")
    return [row for row in rows if by is None or row.scheduler.get("instance_id") == by]


def next_due(name: str = ENTRY) -> dt.datetime:
    """When RedBeat will next dispatch an interval entry (its last run + the interval)."""
    entry = RedBeatSchedulerEntry.from_key(selectors.entry_key(name), app=app)
    assert entry.last_run_at is not None
    due: dt.datetime = entry.last_run_at + entry.schedule.run_every
    return due
