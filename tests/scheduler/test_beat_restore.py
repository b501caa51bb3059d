"""The beat writes the schedule to Redis with the database's state: at start, and when Redis came back empty."""

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.db import DatabaseError
from django.utils import timezone
from redbeat.schedulers import RedBeatSchedulerEntry

from musicdrops.celery import app
from musicdrops.scheduler import selectors, services
from musicdrops.scheduler.beat import Scheduler
from musicdrops.scheduler.models import EntryState, SchedulePause

# transaction=True: the beat drops a connection left inside a transaction (close_old_connections), as a test's is
pytestmark = pytest.mark.django_db(transaction=True)

SEND, SWEEP = "send-music-drops", "sweep-music-drops"


def scheduler() -> Scheduler:
    """The beat's scheduler without its heartbeat thread (lazy); setup_schedule() is what it does at start."""
    return Scheduler(app=app, lazy=True)


def stored(name: str) -> RedBeatSchedulerEntry:
    return RedBeatSchedulerEntry.from_key(selectors.entry_key(name), app=app)


def test_redis_back_empty_gets_the_pause_the_switches_and_the_last_runs_back(redis_client):
    last_run = timezone.now() - dt.timedelta(minutes=10)
    SchedulePause.objects.create(id=SchedulePause.ONLY, by="ann", reason="incident")
    EntryState.objects.create(name=SEND, enabled=False, changed_by="ann")
    EntryState.objects.create(name=SWEEP, last_run_at=last_run, total_run_count=5)

    scheduler().setup_schedule()

    pause = selectors.Pause.from_record(redis_client.get(selectors.PAUSE_KEY))
    assert pause is not None
    assert pause.by == "ann"
    assert not stored(SEND).enabled
    assert stored(SWEEP).enabled
    assert stored(SWEEP).last_run_at == last_run, "a run that fell due while Redis was away is due now, once"
    restore = selectors.last_restore()
    assert restore is not None
    assert (len(restore.entries), restore.paused, restore.disabled, restore.last_runs) == (8, True, [SEND], 1)
    assert redis_client.ttl(selectors.RESTORED_KEY) > 0
    out = io.StringIO()
    call_command("scheduler_status", stdout=out)
    assert "restored from the database after Redis lost the schedule at" in out.getvalue()
    assert "8 entries, paused; disabled: send-music-drops; 1 last runs" in out.getvalue()


def test_a_first_start_is_no_restore(redis_client):
    scheduler().setup_schedule()

    assert stored(SEND).enabled
    assert selectors.last_restore() is None


def test_at_start_a_pause_and_a_switch_only_redis_held_are_saved(redis_client):
    """Deployed while paused by the release before this one, which kept both in Redis only."""
    scheduler().setup_schedule()
    redis_client.set(selectors.PAUSE_KEY, json.dumps({"since": "2026-01-01T00:00:00+00:00", "by": "old", "reason": ""}))
    services._cache_enabled(name=SEND, enabled=False, client=redis_client)

    scheduler().setup_schedule()

    assert SchedulePause.objects.get().by == "old"
    assert not EntryState.objects.get(name=SEND).enabled
    assert not stored(SEND).enabled
    assert selectors.last_restore() is None, "nothing was lost"


def test_without_the_database_a_lost_entry_is_not_written_and_a_kept_one_keeps_its_state(redis_client, monkeypatch):
    scheduler().setup_schedule()
    services._cache_enabled(name=SEND, enabled=False, client=redis_client)
    redis_client.delete(selectors.entry_key(SWEEP))

    def no_database(**kwargs: object) -> None:
        raise DatabaseError("connection refused")

    monkeypatch.setattr(services, "schedule_state_restore", no_database)
    beat = scheduler()
    beat.setup_schedule()

    assert not redis_client.exists(selectors.entry_key(SWEEP)), "dispatched by nobody until the database answers"
    assert not stored(SEND).enabled
    assert beat._resync, "tried again on a later tick"
