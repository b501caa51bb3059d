import pytest
from celery.backends.base import DisabledBackend
from redbeat.schedulers import ensure_conf

from musicdrops.celery import app


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("musicdrops.accounts.tasks.send_verification_email_task", "important"),
        ("musicdrops.accounts.tasks.send_password_reset_email_task", "important"),
        ("musicdrops.accounts.tasks.clear_expired_sessions_task", "regular"),
        ("musicdrops.catalog.tasks.import_artists_task", "regular"),
        ("musicdrops.drops.tasks.send_music_drops_task", "drops"),
        ("musicdrops.drops.tasks.send_drop_chunk_task", "drops"),
        ("musicdrops.drops.tasks.sweep_music_drops_task", "drops"),
    ],
)
def test_tasks_are_routed_to_their_queue(task, queue):
    assert app.amqp.router.route({}, task)["queue"].name == queue


@pytest.mark.django_db  # importing the tasks runs Django's model checks, which ask the database
def test_every_routed_task_exists():
    app.loader.import_default_modules()
    for name in app.conf.task_routes:
        assert name in app.tasks, name


@pytest.mark.django_db
def test_every_periodic_task_exists_and_expires():
    app.loader.import_default_modules()
    for name, entry in app.conf.beat_schedule.items():
        assert entry["task"] in app.tasks, name
        assert entry["options"]["expires"] > 0, name


def test_every_queue_gets_a_ping_that_nothing_consumes_but_a_worker_of_that_queue():
    pings = {
        entry["options"]["queue"] for entry in app.conf.beat_schedule.values() if "ping_queue_task" in entry["task"]
    }

    assert pings == {queue.name for queue in app.conf.task_queues}


def test_json_only_acks_late_and_no_results():
    conf = app.conf
    assert conf.accept_content == ["json"]
    assert conf.task_serializer == "json"
    assert conf.task_acks_late
    assert conf.task_reject_on_worker_lost
    assert conf.task_acks_on_failure is conf.task_acks_on_timeout is True  # docs/choices.md
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_ignore_result
    assert conf.result_backend is None  # a watched task's state is its row (musicdrops/jobs/models.py)


def test_operators_tools_work_and_every_pool_stays_bounded():
    # Flower and `celery inspect` work out of the box; WORKER_REMOTE_CONTROL=0 gives them up (docs/operators.md).
    assert app.conf.worker_enable_remote_control is True
    assert app.conf.worker_send_task_events is app.conf.task_send_sent_event is True
    assert app.conf.broker_pool_limit == 2  # a broadcast waiting for replies takes two at once
    # No result backend: it held a connection per web thread, and one subscribed to every task sent.
    assert isinstance(app.backend, DisabledBackend)


def test_visibility_timeout_outlasts_every_task():
    assert app.conf.broker_transport_options["visibility_timeout"] > 2 * app.conf.task_time_limit
    assert app.conf.task_soft_time_limit < app.conf.task_time_limit


def test_standby_beat_takes_over_within_ten_seconds():
    lock_timeout = ensure_conf(app).lock_timeout
    interval = app.conf.beat_max_loop_interval
    assert lock_timeout + interval <= 10
    assert lock_timeout >= 3 * interval  # renewal has slack: no LockNotOwnedError on a slow tick
