"""Exactly one email per user per day, whatever the schedulers and workers do. Real beats, workers, SMTP."""

import collections
import datetime as dt
import time

import pytest
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.drops.models import Delivery
from musicdrops.ops.demo import demo_seed
from musicdrops.scheduler.models import DuplicateDispatch, ScheduledRun
from tests.integration.conftest import SmtpSink
from tests.integration.drills import make_some_weekly
from tests.integration.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

NOWHERE = "http://127.0.0.1:9/ws/2"  # MusicBrainz: refuse at once, the catalog sync is not under test here


def recipients(sink: SmtpSink) -> collections.Counter[str]:
    return collections.Counter(str(m["To"]) for m in sink.messages)


def seed(users: int) -> int:
    demo_seed(
        users=users, demo_email_address="demo@example.com", demo_password="pw-demo-1234", today=timezone.localdate()
    )
    make_some_weekly()
    return users + 1  # and the demo login


def test_two_redbeats_and_a_lock_ignoring_beat_send_each_user_exactly_one_email(start_process, smtp_server, run_dir):
    expected = seed(60)
    # Everyone's delivery time is this hour, and stays within reach of every slot of the drill (24 h): an interval
    # schedule dispatches the current hour's slot over and over, and the drill may run into the next hour.
    User.objects.update(time_zone="UTC", delivery_hour=dt.datetime.now(dt.UTC).hour)
    User.objects.filter(digest="weekly").update(digest_weekday=dt.datetime.now(dt.UTC).weekday())
    env = {
        "EMAIL_URL": smtp_server.url, "MUSIC_DROPS_EVERY_SECONDS": "3", "MUSICBRAINZ_URL": NOWHERE,
        "DROPS_CATCH_UP_HOURS": "24",
    }  # fmt: skip
    worker = start_process("worker-drops", **env)
    worker.wait_for("ready.")
    beats = [start_process("beat", **env) for _ in range(2)]
    # Celery's default scheduler: a schedule file and no lock, like a beat left over from old code.
    old_style = f"celery -A musicdrops beat -S celery.beat:PersistentScheduler -s {run_dir}/celerybeat-schedule"
    rogue = start_process("beat", command=old_style, **env)

    wait_until(lambda: len(smtp_server.messages) >= expected, 60, f"{expected} emails", worker, *beats, rogue)
    # Keep all three schedulers running across several more slots.
    wait_until(lambda: ScheduledRun.objects.filter(entry="send-music-drops").count() >= 4, 30, "4 slots", *beats)
    time.sleep(3)

    counts = recipients(smtp_server)
    print(f"{len(smtp_server.messages)} emails to {len(counts)} users over "
          f"{ScheduledRun.objects.filter(entry='send-music-drops').count()} slots; "
          f"{DuplicateDispatch.objects.count()} dispatches refused")  # fmt: skip
    assert len(counts) == expected
    assert max(counts.values()) == 1
    assert Delivery.objects.filter(status="sent").count() == expected
    # The rogue beat's dispatches were seen, recorded with where they came from, and ignored.
    foreign = DuplicateDispatch.objects.filter(reason="foreign")
    assert foreign.exists()
    assert all(d.origin for d in foreign)
    assert rogue.popen.poll() is None


def test_running_a_days_send_again_is_a_no_op(start_process, smtp_server):
    expected = seed(5)
    worker = start_process("worker-drops", EMAIL_URL=smtp_server.url, MUSICBRAINZ_URL=NOWHERE)
    worker.wait_for("ready.")

    start_process("release", command="python manage.py send_music_drops").popen.wait(60)
    smtp_server.wait_for(expected)
    again = start_process("release", command="python manage.py send_music_drops")
    again.popen.wait(60)
    time.sleep(1)

    assert ": 0 users queued" in again.output()  # said at once, nothing queued
    assert len(smtp_server.messages) == expected
    assert not DuplicateDispatch.objects.exists()  # nothing for /healthz to report


def test_a_rerun_before_any_worker_sent_the_first_queues_nobody_twice(start_process, smtp_server):
    expected = seed(5)
    # Both run while no worker runs: nobody has been sent anything when the second starts.
    first = start_process("release", command="python manage.py send_music_drops")
    assert first.popen.wait(60) == 0
    second = start_process("release", command="python manage.py send_music_drops")
    assert second.popen.wait(60) == 0
    worker = start_process("worker-drops", EMAIL_URL=smtp_server.url, MUSICBRAINZ_URL=NOWHERE)

    smtp_server.wait_for(expected)
    time.sleep(2)  # anything queued twice would arrive now

    assert f": {expected} users queued" in first.output()
    assert ": 0 users queued" in second.output()
    assert len(smtp_server.messages) == expected
    assert not DuplicateDispatch.objects.exists()
    assert worker.popen.poll() is None
