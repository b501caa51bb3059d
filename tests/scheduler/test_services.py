"""Steering the schedule: what each service writes, as the beat will read it on its next tick."""

import dataclasses
import datetime as dt
import json

import pytest
from django.utils import timezone
from redbeat.schedulers import RedBeatSchedulerEntry

from musicdrops.celery import app
from musicdrops.ops import health
from musicdrops.scheduler import heartbeat, selectors, services
from musicdrops.scheduler.models import DuplicateDispatch, EntryState, SchedulePause

pytestmark = pytest.mark.django_db


def stored(name: str) -> RedBeatSchedulerEntry:
    return RedBeatSchedulerEntry.from_key(selectors.entry_key(name), app=app)


def test_pause_is_kept_with_who_and_why_and_a_second_pause_keeps_the_first(redis_client):
    assert services.schedule_pause(by="ann", reason="deploy v43")
    first = selectors.current_pause()
    assert first is not None
    assert not services.schedule_pause(by="bob")

    assert selectors.current_pause() == first
    assert (first.by, first.reason) == ("ann", "deploy v43")
    assert services.schedule_resume(by="ann")
    assert selectors.current_pause() is None
    assert not services.schedule_resume(by="ann")


def test_a_pause_flag_set_by_hand_still_counts_as_paused(redis_client):
    redis_client.set(selectors.PAUSE_KEY, "1")

    pause = selectors.current_pause()
    assert pause is not None
    assert pause.by == "unknown"


def test_disable_changes_only_the_enabled_field_and_redbeat_reads_it(entries, redis_client):
    key = selectors.entry_key("send-music-drops")
    before = json.loads(redis_client.hget(key, "definition"))

    assert services.entry_set_enabled(name="send-music-drops", enabled=False, by="ann")
    assert not services.entry_set_enabled(name="send-music-drops", enabled=False, by="ann")

    after = json.loads(redis_client.hget(key, "definition"))
    assert after == before | {"enabled": False}
    entry = stored("send-music-drops")
    assert entry.is_due() == (False, 5.0)  # RedBeat's own answer for a disabled entry
    assert services.entry_set_enabled(name="send-music-drops", enabled=True, by="ann")
    assert stored("send-music-drops").enabled


def test_unknown_entries_are_refused(entries):
    with pytest.raises(services.EntryNotFound):
        services.entry_set_enabled(name="nope", enabled=False, by="ann")
    with pytest.raises(services.EntryNotFound):
        services.entry_run_now(name="nope", by="ann")


def test_run_now_twice_makes_one_request(entries):
    assert services.entry_run_now(name="sync-stale-artists", by="ann")
    assert not services.entry_run_now(name="sync-stale-artists", by="bob")

    [request] = selectors.run_now_requests()
    assert (request.entry, request.by) == ("sync-stale-artists", "ann")
    services.run_now_done(request=request)
    assert selectors.run_now_requests() == []


def test_acknowledging_duplicates_marks_only_unacknowledged_ones():
    one, _two = (DuplicateDispatch.objects.create(entry="e", task_id=t, reason="same-slot") for t in "ab")
    assert services.duplicates_acknowledge(by="ann", ids=[one.id]) == 1
    assert services.duplicates_acknowledge(by="bob") == 1

    assert dict(DuplicateDispatch.objects.values_list("task_id", "acknowledged_by")) == {"a": "ann", "b": "bob"}


def test_overview_shows_beats_lock_holder_entries_and_problems(entries, redis_client):
    active, standby = heartbeat.BeatInstance.current(), heartbeat.BeatInstance.current()
    standby = dataclasses.replace(standby, started_at="2026-01-01T00:00:00+00:00")  # no newcomer: a second beat
    heartbeat.publish(active, role="active", lock_token="token-1")
    heartbeat.publish(standby, role="standby")
    redis_client.set("redbeat::lock", "token-1", px=5000)
    services.entry_set_enabled(name="clear-expired-sessions", enabled=False, by="ann")
    services.entry_run_now(name="sync-stale-artists", by="ann")

    overview = selectors.scheduler_overview()

    assert {b.instance_id for b in overview.beats} == {active.instance_id, standby.instance_id}
    assert overview.lock.held
    assert overview.lock.beat is not None
    assert overview.lock.beat.instance_id == active.instance_id
    assert overview.lock.ttl_seconds is not None
    assert 0 < overview.lock.ttl_seconds <= 5
    states = {e.name: (e.enabled, e.next_run_at is not None, e.run_now is not None) for e in overview.entries}
    assert states == {
        "send-music-drops": (True, True, False),
        "sweep-music-drops": (True, True, False),
        "sync-stale-artists": (True, True, True),
        "trim-drops-ledger": (True, True, False),
        "clear-expired-sessions": (False, False, False),
        "ping-regular": (True, True, False),
        "ping-important": (True, True, False),
        "ping-drops": (True, True, False),
    }
    assert health.check().problems == ["several-beats"]


def test_a_lock_held_by_something_without_a_heartbeat_is_shown_as_such(redis_client):
    redis_client.set("redbeat::lock", "someone-else", px=5000)

    lock = selectors.scheduler_overview().lock

    assert lock.held
    assert lock.beat is None


def test_a_pause_is_saved_in_the_database_and_resume_works_after_redis_lost_it(redis_client):
    assert services.schedule_pause(by="ann", reason="incident")
    redis_client.flushdb()  # Redis back empty

    pause = selectors.current_pause()
    assert pause is not None
    assert (pause.by, pause.reason) == ("ann", "incident")
    assert not services.schedule_pause(by="bob"), "still paused: the first pause stands"
    assert selectors.Pause.from_record(redis_client.get(selectors.PAUSE_KEY)) == pause, "and Redis's copy is back"
    assert services.schedule_resume(by="ann")
    assert selectors.current_pause() is None
    assert not SchedulePause.objects.exists()


def test_a_pause_only_redis_holds_is_resumed_too(redis_client):
    redis_client.set(selectors.PAUSE_KEY, "1")  # paused before pauses were saved, or by hand

    assert services.schedule_resume(by="ann")
    assert selectors.current_pause() is None


def test_disabling_is_saved_in_the_database_even_while_redis_holds_no_copy(entries, redis_client):
    redis_client.flushdb()

    assert services.entry_set_enabled(name="send-music-drops", enabled=False, by="ann")
    assert not services.entry_set_enabled(name="send-music-drops", enabled=False, by="bob")

    state = EntryState.objects.get(name="send-music-drops")
    assert (state.enabled, state.changed_by) == (False, "ann")
    [status] = [e for e in selectors.entry_statuses() if e.name == "send-music-drops"]
    assert (status.loaded, status.enabled, status.changed_by) == (False, False, "ann")
    with pytest.raises(services.EntryNotFound):
        services.entry_set_enabled(name="nope", enabled=False, by="ann")


def test_each_dispatch_keeps_the_entrys_last_run_and_count():
    first, second = timezone.now() - dt.timedelta(minutes=2), timezone.now()
    services.entry_ran(name="sync-stale-artists", at=first)
    services.entry_ran(name="sync-stale-artists", at=second)

    state = EntryState.objects.get(name="sync-stale-artists")
    assert (state.last_run_at, state.total_run_count, state.enabled) == (second, 2, True)


def test_restoring_keeps_what_only_redis_held_and_writes_the_pause_back(redis_client):
    redis_client.set(selectors.PAUSE_KEY, json.dumps({"since": "2026-01-01T00:00:00+00:00", "by": "old", "reason": ""}))
    cached = selectors.current_pause()
    EntryState.objects.create(name="ping-regular", enabled=True, changed_by="ann")  # the database decides this one
    redis_client.flushdb()

    saved = services.schedule_state_restore(
        cached_pause=cached, cached_disabled={"clear-expired-sessions", "ping-regular"}
    )

    assert saved.pause == cached
    assert saved.disabled == {"clear-expired-sessions"}
    assert selectors.Pause.from_record(redis_client.get(selectors.PAUSE_KEY)) == cached
