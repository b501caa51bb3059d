import datetime as dt
import logging

from celery.schedules import crontab, schedule

from musicdrops.scheduler.slots import slot_for

UTC = dt.UTC


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


def test_a_dispatched_tasks_log_lines_name_its_entry_and_slot_and_only_while_it_runs(caplog):
    from celery import shared_task

    from musicdrops.lib.logs import ContextFilter

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
