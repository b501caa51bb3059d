"""One run per (entry, slot): the slot a dispatch belongs to, the worker's claim, and the log lines of the run."""

import datetime as dt
import logging
from typing import Any

import pytest
from celery import Task, shared_task
from celery.schedules import crontab, schedule

from musicdrops.scheduler.models import DuplicateDispatch, ScheduledRun
from musicdrops.scheduler.slots import slot_claim, slot_for, stamp

UTC = dt.UTC
SLOT = dt.datetime(2026, 11, 21, 7, 0, tzinfo=UTC)
BEAT = {"instance_id": "b1", "host": "beat-host", "pid": 7}


@shared_task(bind=True, name="tests.scheduler.claiming")
def claiming(self: Task) -> str | None:  # type: ignore[type-arg]
    slot = slot_claim(self.request)
    return slot.isoformat() if slot else None


def dispatch(task_id: str, headers: dict[str, Any] | None = None) -> str | None:
    headers = stamp(entry="send-music-drops", slot=SLOT, scheduler=BEAT) if headers is None else headers
    result: str | None = claiming.apply(task_id=task_id, headers=headers).get()
    return result


def test_an_interval_slot_is_the_time_the_run_was_due_whenever_it_is_dispatched():
    last = dt.datetime(2026, 11, 21, 7, 0, 3, 250000, tzinfo=UTC)
    due = last + dt.timedelta(seconds=10)

    on_time = slot_for(schedule(10), due + dt.timedelta(milliseconds=5), last)
    after_a_failover = slot_for(schedule(10), due + dt.timedelta(seconds=7), last)

    assert on_time == after_a_failover == due


def test_an_entrys_first_interval_run_is_floored_to_the_interval():
    now = dt.datetime(2026, 11, 21, 7, 0, 13, 400000, tzinfo=UTC)

    assert slot_for(schedule(10), now) == dt.datetime(2026, 11, 21, 7, 0, 10, tzinfo=UTC)


def test_a_crontab_slot_is_the_minute():
    now = dt.datetime(2026, 11, 21, 7, 0, 6, tzinfo=UTC)
    last = dt.datetime(2026, 11, 20, 7, 0, 0, tzinfo=UTC)

    assert slot_for(crontab(minute="0", hour="7"), now, last) == dt.datetime(2026, 11, 21, 7, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_the_first_dispatch_of_a_slot_runs_and_a_second_is_recorded_and_refused():
    assert dispatch("first") == SLOT.isoformat()
    assert dispatch("second") is None

    [run] = ScheduledRun.objects.all()
    assert (run.entry, run.slot, run.task_id, run.scheduler) == ("send-music-drops", SLOT, "first", BEAT)
    [duplicate] = DuplicateDispatch.objects.all()
    assert (duplicate.reason, duplicate.slot, duplicate.task_id) == ("same-slot", SLOT, "second")
    assert (duplicate.first_task_id, duplicate.scheduler) == ("first", BEAT)


@pytest.mark.django_db
def test_its_own_message_redelivered_after_a_crash_runs_again():
    assert dispatch("first") == SLOT.isoformat()
    assert dispatch("first") == SLOT.isoformat()

    assert ScheduledRun.objects.count() == 1
    assert not DuplicateDispatch.objects.exists()


@pytest.mark.django_db
def test_a_dispatch_no_scheduler_of_ours_stamped_is_recorded_as_foreign_and_refused():
    assert dispatch("default-beat", headers={}) is None

    [foreign] = DuplicateDispatch.objects.all()
    assert (foreign.reason, foreign.entry, foreign.task_id) == ("foreign", "tests.scheduler.claiming", "default-beat")
    assert not ScheduledRun.objects.exists()


@pytest.mark.django_db
def test_called_as_a_plain_function_it_runs_for_now_and_claims_nothing():
    assert claiming() is not None

    assert not ScheduledRun.objects.exists()
    assert not DuplicateDispatch.objects.exists()


def test_a_dispatched_tasks_log_lines_name_its_entry_and_slot_and_only_while_it_runs(caplog):
    from musicdrops.logs import ContextFilter

    @shared_task(name="tests.scheduler.log_something")
    def log_something() -> None:
        logging.getLogger("musicdrops.tests").warning("inside")

    headers = {"musicdrops_entry": "send-music-drops", "musicdrops_slot": "2026-11-21T07:00:00+00:00"}
    caplog.handler.addFilter(ContextFilter())
    log_something.apply(task_id="a-task-id", headers=headers)
    logging.getLogger("musicdrops.tests").warning("after")

    inside, after = [r for r in caplog.records if r.name == "musicdrops.tests"]
    assert (inside.task_id, inside.entry, inside.slot) == ("a-task-id", "send-music-drops", "2026-11-21T07:00:00+00:00")
    assert not hasattr(after, "entry")
    assert not hasattr(after, "task_id")
