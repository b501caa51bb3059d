"""`manage.py scheduler_status` and `pause_schedule`: the same facts as the admin page, for a terminal or a script."""

import dataclasses
import datetime as dt
import io
import json
import time

import pytest
from django.core.management import call_command
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.celery import app
from musicdrops.drops.fanout import QUEUES_MARK
from musicdrops.drops.models import Delivery, DropSend
from musicdrops.ops import health
from musicdrops.ops.tasks import ping_queue_task
from musicdrops.scheduler import heartbeat, selectors
from musicdrops.scheduler.models import DuplicateDispatch

pytestmark = pytest.mark.django_db


def status(*args: str) -> str:
    out = io.StringIO()
    call_command("scheduler_status", *args, stdout=out)
    return out.getvalue()


def settled(beat: heartbeat.BeatInstance) -> heartbeat.BeatInstance:
    """Started a minute ago: no newcomer, whose standing by could be a restart's."""
    started = (timezone.now() - dt.timedelta(minutes=1)).isoformat(timespec="seconds")
    return dataclasses.replace(beat, started_at=started)


@pytest.fixture
def two_beats(redis_client, monkeypatch):
    monkeypatch.setenv("DYNO", "beat.1")
    active = heartbeat.BeatInstance.current()
    monkeypatch.setenv("DYNO", "beat.2")
    standby = settled(heartbeat.BeatInstance.current())
    heartbeat.publish(active, role="active", lock_token="tok")
    heartbeat.publish(standby, role="standby")
    redis_client.set("redbeat::lock", "tok", px=5000)
    return active, standby


def test_json_lists_beats_with_identity_the_lock_holder_entries_and_duplicates(entries, two_beats):
    active, _standby = two_beats
    DuplicateDispatch.objects.create(
        entry="send-music-drops", task_id="t2", first_task_id="t1", reason="same-slot",
        scheduler={"dyno": "beat.2", "release": "v41"},
    )  # fmt: skip

    report = json.loads(status("--json"))

    assert report["status"] == "degraded"
    assert report["problems"] == ["several-beats", "duplicate-dispatch"]
    beats = {b["dyno"]: b for b in report["beats"]}
    assert set(beats) == {"beat.1", "beat.2"}
    assert beats["beat.1"]["role"] == "active"
    for field in ("host", "pid", "release", "commit", "started_at", "seen_at"):
        assert beats["beat.1"][field], field
    assert "lock_token" not in beats["beat.1"]
    assert report["lock"] | {"expires_in": None} == {
        "key": "redbeat::lock", "held": True, "holder": active.instance_id, "expires_in": None,
    }  # fmt: skip
    assert [e["name"] for e in report["entries"]] == entries
    assert all(e["enabled"] and e["next_run_at"] for e in report["entries"])
    assert report["duplicates"]["unacknowledged_recent"] == 1
    assert report["duplicates"]["latest"][0]["sent_by"] == {"dyno": "beat.2", "release": "v41"}


def test_the_table_says_who_holds_the_lock_and_what_is_paused(entries, two_beats):
    call_command("pause_schedule", "--reason", "deploy v43", "--by", "ann", stdout=io.StringIO())

    text = status()

    assert text.startswith("Scheduler: degraded (several-beats)")
    assert "Schedule: PAUSED since" in text
    assert "by ann: deploy v43" in text
    assert "Lock redbeat::lock: held by beat.1 pid" in text
    assert "active (lock)" in text
    for name in entries:
        assert any(line.strip().startswith(name) and "paused" in line for line in text.splitlines()), name


def test_check_exits_by_status_for_scripts(entries, redis_client):
    with pytest.raises(SystemExit) as failing:
        status("--check")
    assert failing.value.code == 2  # no beat at all

    heartbeat.publish(heartbeat.BeatInstance.current(), role="active")
    status("--check")  # ok: no exit

    heartbeat.publish(settled(heartbeat.BeatInstance.current()), role="standby")
    with pytest.raises(SystemExit) as degraded:
        status("--check")
    assert degraded.value.code == 1


def test_pause_schedule_and_resume():
    out = io.StringIO()
    call_command("pause_schedule", stdout=out)
    call_command("pause_schedule", stdout=out)
    assert selectors.current_pause() is not None
    call_command("pause_schedule", "--resume", stdout=out)

    assert selectors.current_pause() is None
    assert out.getvalue().splitlines() == ["schedule paused", "the schedule was already paused", "schedule resumed"]


@pytest.fixture
def late_work(redis_client, settings):
    """A beat pinging for 20 minutes; a user due for an hour, a fan-out unfinished, and a queue nobody takes from."""
    started = (timezone.now() - dt.timedelta(minutes=20)).isoformat(timespec="seconds")
    heartbeat.publish(dataclasses.replace(heartbeat.BeatInstance.current(), started_at=started), role="active")
    now = timezone.now()
    user = User.objects.create_user("fan@example.com")
    Delivery.objects.create(
        user=user, slot=now, day=now.date(), period=str(now.date()), lease_until=now,
        queued_at=now - dt.timedelta(hours=1),
    )  # fmt: skip
    DropSend.objects.create(slot=now, started_at=now - dt.timedelta(hours=2))
    redis_client.set(QUEUES_MARK, "1")  # the sweep has looked since Redis started: nothing was lost with it
    app.send_task("musicdrops.drops.tasks.sweep_music_drops_task", queue=settings.QUEUE_REGULAR)
    for queue in app.conf.task_queues:
        ping_queue_task(queue.name)
    redis_client.hset(health.PINGS_KEY, settings.QUEUE_REGULAR, time.time() - 1200)


def test_the_table_shows_the_sends_progress_and_each_queues_depth_and_last_ping(entries, late_work):
    text = status()

    assert text.startswith("Scheduler: degraded (drops-overdue, queue-stuck)")
    assert "Drops: 1 users overdue, 1 unfinished fan-outs (the oldest for 2.0 h)" in text
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.startswith("  ")}
    assert rows["regular"] == ["regular", "1", "20", "min", "ago", "STUCK"]
    assert rows["important"][:2] == ["important", "0"]
    assert "STUCK" not in rows["important"]


def test_json_and_check_judge_the_work_as_healthz_does(entries, late_work, client):
    report = json.loads(status("--json"))

    assert report["drops"] | {"oldest_overdue_seconds": 0} == {
        "overdue": 2, "overdue_users": 1, "unfinished_fan_outs": 1, "oldest_overdue_seconds": 0,
    }  # fmt: skip
    assert report["queues"]["regular"]["depth"] == 1
    assert report["queues"]["regular"]["pinged_seconds_ago"] > 1190
    assert report["queues"]["regular"]["stuck"] is True
    assert report["problems"] == client.get("/healthz").json()["problems"]
    with pytest.raises(SystemExit) as degraded:
        status("--check")
    assert degraded.value.code == 1
