import dataclasses
import datetime as dt
import json
import time
from typing import Any

import pytest
import redis
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.celery import app
from musicdrops.drops.fanout import QUEUES_MARK
from musicdrops.drops.models import Delivery, DropSend
from musicdrops.ops import health
from musicdrops.ops.tasks import ping_queue_task
from musicdrops.scheduler import heartbeat, services
from musicdrops.scheduler.models import DuplicateDispatch

pytestmark = pytest.mark.django_db


def beat(role: str, *, lock_token: str = "", started_ago: float = 60) -> heartbeat.BeatInstance:
    """A beat's heartbeat; started a minute ago unless told otherwise, so it is no newcomer."""
    started = dt.datetime.fromtimestamp(time.time() - started_ago, dt.UTC).isoformat(timespec="seconds")
    instance = dataclasses.replace(heartbeat.BeatInstance.current(), started_at=started)
    heartbeat.publish(instance, role=role, lock_token=lock_token)
    return instance


def test_healthy_with_database_redis_and_one_active_beat(client):
    beat("active")

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Length"] == str(len(response.content))  # keep-alive for HTTP/1.0 probes too
    body = response.json()
    assert body["status"] == "ok"
    assert body["problems"] == []
    assert body["checks"]["database"]["ok"]
    assert body["checks"]["redis"]["ok"]
    assert body["checks"]["dispatches"]["ok"]
    assert body["checks"]["beat"] | {"last_seen": None} == {
        "ok": True,
        "live": 1,
        "active": 1,
        "paused": False,
        "ms": body["checks"]["beat"]["ms"],
        "last_seen": None,
    }


def test_no_beat_is_a_failure(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["problems"] == ["no-active-beat"]
    assert body["checks"]["beat"] | {"ms": 0} == {"ok": False, "live": 0, "active": 0, "paused": False, "ms": 0}


def test_a_standby_beat_beside_the_active_one_is_degraded_not_failing(client):
    # A second beat is what a deploy that left the old one running looks like: alert, but keep serving.
    beat("active")
    beat("standby")

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["problems"] == ["several-beats"]
    assert response.json()["checks"]["beat"]["live"] == 2


def test_two_active_beats_are_degraded(client):
    # Both think they hold the lock (one lost it and hasn't ticked yet): the slot claim still runs each job once.
    beat("active")
    beat("active")

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["beat"]["active"] == 2


def test_a_beat_that_stopped_publishing_is_gone_after_its_ttl(client, redis_client, settings):
    instance = heartbeat.BeatInstance.current()
    record = json.loads(json.dumps(instance.__dict__)) | {"role": "active", "expires_at": time.time() - 1}
    redis_client.hset(heartbeat.KEY, instance.instance_id, json.dumps(record))

    assert client.get("/healthz").json()["checks"]["beat"]["live"] == 0


def test_a_beat_from_another_release_with_other_fields_still_counts(client, redis_client):
    # The leftover beat worth seeing runs other code: its heartbeat may have fields this code doesn't know.
    beat("active")
    record = {"instance_id": "old", "host": "h", "pid": 1, "release": "v1", "started_at": "2026-01-01T00:00:00+00:00",
              "role": "standby", "expires_at": time.time() + 20, "from_the_future": True}  # fmt: skip
    redis_client.hset(heartbeat.KEY, "old", json.dumps(record))

    body = client.get("/healthz").json()

    assert body["checks"]["beat"]["live"] == 2
    assert body["problems"] == ["several-beats"]


def duplicate(**fields) -> DuplicateDispatch:
    return DuplicateDispatch.objects.create(entry="send-music-drops", task_id="t", reason="same-slot", **fields)


def test_a_recent_duplicate_dispatch_is_degraded_until_acknowledged(client):
    beat("active")
    duplicate()

    body = client.get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["problems"] == ["duplicate-dispatch"]
    assert body["checks"]["dispatches"]["last_duplicate"]["entry"] == "send-music-drops"

    services.duplicates_acknowledge(by="ops@example.com")

    assert client.get("/healthz").json()["status"] == "ok"


def test_a_duplicate_dispatch_older_than_a_day_is_history(client):
    beat("active")
    duplicate(received_at=timezone.now() - dt.timedelta(hours=25))

    assert client.get("/healthz").json()["status"] == "ok"


def test_a_paused_schedule_shows_and_is_degraded_only_when_forgotten(client, redis_client):
    beat("active")
    services.schedule_pause(by="ops@example.com", reason="deploy")

    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["checks"]["beat"]["paused"] is True
    assert body["checks"]["beat"]["paused_by"] == "ops@example.com"

    hours_ago = (timezone.now() - dt.timedelta(hours=2)).isoformat()
    redis_client.set("musicdrops:scheduler:paused", json.dumps({"since": hours_ago, "by": "ops@example.com"}))

    body = client.get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["problems"] == ["paused-too-long"]


def test_a_withdrawn_beat_is_gone_at_once(client):
    instance = beat("active")
    heartbeat.withdraw(instance)

    assert client.get("/healthz").status_code == 503


def test_redis_down_is_a_503_with_the_reason_not_a_500(client, monkeypatch):
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(health, "get_client", lambda: dead)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "failing"
    checks = response.json()["checks"]
    assert checks["redis"] == {"ok": False, "error": "ConnectionError", "ms": checks["redis"]["ms"]}
    assert checks["beat"]["ok"] is False
    assert checks["database"]["ok"] is True


def test_health_is_never_cached_and_only_read(client):
    response = client.get("/healthz")

    assert "no-store" in response.headers["Cache-Control"]
    assert client.post("/healthz").status_code == 405


def test_corrupt_heartbeat_records_are_ignored(client, redis_client):
    redis_client.hset(heartbeat.KEY, "junk", "not json")
    redis_client.hset(heartbeat.KEY, "list", "[1, 2]")
    beat("active")

    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "10.1.2.3", "not-an-allowed-host.example"])
def test_probes_by_any_host_name_get_an_answer(client, host, settings):
    settings.ALLOWED_HOSTS = ["musicdrops.example.com"]
    beat("active")

    assert client.get("/healthz", HTTP_HOST=host).status_code == 200
    assert client.get("/", HTTP_HOST=host).status_code == 400


@pytest.mark.django_db(transaction=True)
def test_more_concurrent_probes_than_pooled_connections_wait_instead_of_failing(settings):
    # gunicorn runs several threads per process over a pool of REDIS_DIRECT_MAX_CONNECTIONS.
    import threading

    from musicdrops.redis_client import get_client

    beat("active")
    holders = [
        threading.Thread(target=get_client().blpop, args=(["musicdrops:test:nothing"],), kwargs={"timeout": 1})
        for _ in range(settings.REDIS_DIRECT_MAX_CONNECTIONS)
    ]
    for holder in holders:
        holder.start()
    time.sleep(0.2)  # every pooled connection is now blocked in BLPOP

    status, body = health.health_report()

    for holder in holders:
        holder.join()
    assert status == 200, body
    assert body["checks"]["redis"]["ms"] > 500  # it waited for a connection


# --- the daily send's progress -------------------------------------------------------------


def due_users(*ages: dt.timedelta, status: str = "due") -> list[Delivery]:
    """One user per age, due (queued) that long ago."""
    now = timezone.now()
    return [
        Delivery.objects.create(
            user=User.objects.create_user(f"fan{n}@example.com"),
            slot=now,
            day=now.date(),
            period=str(now.date()),
            status=status,
            lease_until=now,
            queued_at=now - age,
        )
        for n, age in enumerate(ages)
    ]


def test_users_due_for_too_long_are_degraded_with_the_count_until_they_are_sent(client):
    beat("active")
    due_users(dt.timedelta(hours=2), dt.timedelta(hours=1), dt.timedelta(minutes=5), dt.timedelta(hours=49))

    body = client.get("/healthz").json()

    assert body["status"] == "degraded"
    assert body["problems"] == ["drops-overdue"]
    drops = body["checks"]["drops"]
    # Five minutes is still on time; two days is an abandoned day, no alarm any more.
    assert drops | {"oldest_overdue_seconds": None} == {
        "ok": False, "ms": 0.0, "overdue": 2, "unfinished_fan_outs": 0, "oldest_overdue_seconds": None,
    }  # fmt: skip
    assert 7190 < drops["oldest_overdue_seconds"] < 7300

    Delivery.objects.update(status="sent", sent_at=timezone.now())

    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["checks"]["drops"] == {
        "ok": True, "ms": 0.0, "overdue": 0, "unfinished_fan_outs": 0, "oldest_overdue_seconds": None,
    }  # fmt: skip


def test_overdue_users_are_counted_up_to_a_cap_so_the_worst_day_costs_the_probe_no_more(client, monkeypatch):
    beat("active")
    monkeypatch.setattr(health, "OVERDUE_COUNTED_UP_TO", 2)
    due_users(dt.timedelta(hours=1), dt.timedelta(hours=2), dt.timedelta(hours=3))

    assert client.get("/healthz").json()["checks"]["drops"]["overdue"] == 2
    drops = health.check().drops
    assert drops is not None
    assert drops.overdue == 3  # scheduler_status and /metrics count them all


def test_a_user_refused_for_good_is_not_overdue(client):
    beat("active")
    due_users(dt.timedelta(hours=2), status="failed")

    assert client.get("/healthz").json()["status"] == "ok"


def test_a_fan_out_that_never_finished_counts_as_overdue(client, redis_client):
    beat("active")
    redis_client.set(QUEUES_MARK, "1")  # the sweep has looked since Redis started: nothing was lost with it
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    send = DropSend.objects.create(slot=hour, started_at=now - dt.timedelta(hours=1))
    DropSend.objects.create(slot=hour - dt.timedelta(hours=1), started_at=now - dt.timedelta(minutes=1))

    body = client.get("/healthz").json()

    assert body["problems"] == ["drops-overdue"]
    assert body["checks"]["drops"]["overdue"] == 1
    assert body["checks"]["drops"]["unfinished_fan_outs"] == 1
    assert 3590 < body["checks"]["drops"]["oldest_overdue_seconds"] < 3700

    DropSend.objects.filter(pk=send.pk).update(fanned_out_at=now)

    assert client.get("/healthz").json()["status"] == "ok"


def test_the_whole_probe_is_one_database_query(client, redis_client, django_assert_num_queries):
    beat("active")
    redis_client.set(QUEUES_MARK, "1")  # the sweep has looked since Redis started (test_healthz_redis_lost.py)
    due_users(dt.timedelta(hours=2))
    DropSend.objects.create(slot=timezone.now(), started_at=timezone.now() - dt.timedelta(hours=1))
    duplicate()
    client.get("/healthz")  # the connection is open

    with django_assert_num_queries(1):
        body = client.get("/healthz").json()

    assert body["problems"] == ["duplicate-dispatch", "drops-overdue"]
    assert body["checks"]["drops"]["overdue"] == 2


# --- queues, judged by their pings ---------------------------------------------------------------

QUEUES = [queue.name for queue in app.conf.task_queues]  # CELERY_TASK_QUEUES: a queue added there is tested too


def publish(queue: str) -> None:
    """A real task message, as Celery publishes it; no worker consumes this run's Redis."""
    app.send_task("musicdrops.drops.tasks.sweep_music_drops_task", queue=queue)


@pytest.mark.parametrize("queue", QUEUES)
def test_every_queue_is_measured_and_stuck_while_nobody_takes_its_pings(client, redis_client, settings, queue):
    beat("active", started_ago=settings.QUEUE_AGE_ALERT_SECONDS + settings.QUEUE_PING_SECONDS + 60)
    for name in QUEUES:
        ping_queue_task(name)  # as a worker of each queue runs it
    publish(queue)
    publish(queue)

    body = client.get("/healthz").json()

    assert body["status"] == "ok"
    assert body["checks"]["queues"][queue] | {"pinged_seconds_ago": 0} == {
        "depth": 2, "pinged_seconds_ago": 0, "stuck": False,
    }  # fmt: skip
    assert body["checks"]["queues"][queue]["pinged_seconds_ago"] < 5

    limit = settings.QUEUE_AGE_ALERT_SECONDS + settings.QUEUE_PING_SECONDS  # a ping may wait, then the next one comes
    redis_client.hset(health.PINGS_KEY, queue, time.time() - limit + 10)
    assert client.get("/healthz").json()["status"] == "ok"

    redis_client.hset(health.PINGS_KEY, queue, time.time() - limit - 10)

    body = client.get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["problems"] == ["queue-stuck"]
    assert body["checks"]["queues"]["ok"] is False
    assert [name for name in QUEUES if body["checks"]["queues"][name]["stuck"]] == [queue]
    assert body["checks"]["queues"][queue]["pinged_seconds_ago"] > limit

    ping_queue_task(queue)
    assert client.get("/healthz").json()["status"] == "ok"


def test_a_queue_whose_ping_was_never_taken_is_stuck_once_the_beat_has_sent_them_for_the_alert_age(client, settings):
    instance = beat("active", started_ago=60)

    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["checks"]["queues"]["regular"] == {"depth": 0, "pinged_seconds_ago": None, "stuck": False}

    heartbeat.withdraw(instance)
    beat("active", started_ago=settings.QUEUE_AGE_ALERT_SECONDS + settings.QUEUE_PING_SECONDS + 10)
    ping_queue_task(settings.QUEUE_IMPORTANT)

    body = client.get("/healthz").json()
    assert body["problems"] == ["queue-stuck"]
    assert [name for name in QUEUES if body["checks"]["queues"][name]["stuck"]] == [
        name for name in QUEUES if name != settings.QUEUE_IMPORTANT
    ]


def test_while_paused_no_pings_are_sent_so_no_queue_is_judged(client, settings):
    beat("active", started_ago=settings.QUEUE_AGE_ALERT_SECONDS + settings.QUEUE_PING_SECONDS + 60)
    services.schedule_pause(by="ops@example.com", reason="deploy")

    body = client.get("/healthz").json()

    assert body["status"] == "ok"
    assert body["checks"]["queues"]["ok"] is True


def test_garbage_where_queues_and_pings_belong_never_breaks_the_probe(client, settings):
    beat("active")
    raw = redis.Redis.from_url(settings.REDIS_URL)
    raw.lpush(settings.QUEUE_REGULAR, b"\xff\xfe not utf-8", b"not json")
    raw.set(settings.QUEUE_IMPORTANT, b"a string where a list should be")
    raw.hset(health.PINGS_KEY, settings.QUEUE_DROPS, b"soon")

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    queues = response.json()["checks"]["queues"]
    assert queues["regular"]["depth"] == 2
    assert queues["important"]["depth"] is None
    assert queues["drops"]["pinged_seconds_ago"] is None

    raw.delete(health.PINGS_KEY)
    raw.set(health.PINGS_KEY, b"a string where a hash should be")
    assert client.get("/healthz").json()["status"] == "ok"


def test_the_whole_probe_is_one_redis_round_trip(client, monkeypatch, settings):
    beat("active")
    publish(settings.QUEUE_REGULAR)
    client.get("/healthz")  # the memory policy is read, once a minute
    sent = []
    send: Any = redis.connection.Connection.send_packed_command

    def counted(self: redis.connection.Connection, *args: Any, **kwargs: Any) -> None:
        sent.append(args)
        send(self, *args, **kwargs)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counted)

    body = client.get("/healthz").json()

    assert len(sent) == 1
    assert body["checks"]["queues"]["regular"]["depth"] == 1


# --- beats, judged by the lock -------------------------------------------------------------------


def test_an_active_beat_whose_lock_another_took_is_gone_at_once_not_a_second_beat(client, redis_client):
    # SIGKILLed: its record lingers for BEAT_HEARTBEAT_TTL, but the lock now holds its successor's token.
    beat("active", lock_token="dead-token")
    beat("active", lock_token="new-token")
    redis_client.set("redbeat::lock", "new-token", px=5000)

    body = client.get("/healthz").json()

    assert body["status"] == "ok"
    assert body["problems"] == []
    assert body["checks"]["beat"]["live"] == 1
    assert body["checks"]["beat"]["active"] == 1

    beat("standby")  # a standby has no token: it counts, as ever

    body = client.get("/healthz").json()
    assert body["problems"] == ["several-beats"]
    assert body["checks"]["beat"]["live"] == 2


def test_while_the_new_holder_has_not_said_so_yet_the_handover_is_not_a_failure(client, redis_client):
    beat("active", lock_token="dead-token")
    beat("standby")  # took the lock a moment ago; its next heartbeat says so
    redis_client.set("redbeat::lock", "new-token", px=5000)

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["checks"]["beat"] | {"ms": 0} == {
        "ok": True, "live": 1, "active": 0, "paused": False, "handover": True, "ms": 0,
    }  # fmt: skip


def test_an_active_beat_counts_while_the_lock_is_free_or_still_its_own(client, redis_client):
    beat("active", lock_token="its-token")

    assert client.get("/healthz").json()["status"] == "ok"  # free: expired a moment ago; it takes it again

    redis_client.set("redbeat::lock", "its-token", px=5000)
    assert client.get("/healthz").json()["status"] == "ok"


def test_a_restarted_beat_beside_its_dead_predecessors_record_is_no_zombie_alarm(client, redis_client, settings):
    # Killed, then restarted at once: the new beat waits as a standby for the dead one's lock to expire.
    beat("active", lock_token="dead-token")
    redis_client.set("redbeat::lock", "dead-token", px=4000)
    restarted = beat("standby", started_ago=1)

    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["checks"]["beat"]["live"] == 2
    assert body["checks"]["beat"]["newcomers"] == 1

    # Still a standby long after any lock a dead beat held expired: a second beat after all.
    grace = settings.REDBEAT_LOCK_TIMEOUT + 3 * settings.CELERY_BEAT_MAX_LOOP_INTERVAL
    heartbeat.withdraw(restarted)
    beat("standby", started_ago=grace + 1)

    assert client.get("/healthz").json()["problems"] == ["several-beats"]


def test_two_new_beats_are_not_both_newcomers_to_forgive_if_one_is_active(client):
    beat("active", started_ago=1)
    beat("active", started_ago=1)

    assert client.get("/healthz").json()["problems"] == ["several-beats"]


def test_a_failing_stack_is_logged_once_per_change_not_once_per_probe(client, caplog, monkeypatch):
    monkeypatch.setattr(health, "_last_logged", None)
    for _ in range(3):
        assert client.get("/healthz").status_code == 503
    beat("active")
    for _ in range(2):
        assert client.get("/healthz").status_code == 200
    assert client.get("/no-such-page/").status_code == 404  # every other answer is logged as before

    lines = [
        (r.name, r.levelname, r.getMessage()) for r in caplog.records if r.name.startswith(("musicdrops", "django"))
    ]
    assert lines == [
        ("musicdrops.ops.health", "WARNING", "/healthz failing: checks beat; problems no-active-beat"),
        ("musicdrops.ops.health", "INFO", "/healthz ok again"),
        ("django.request", "WARNING", "Not Found: /no-such-page/"),
    ]
