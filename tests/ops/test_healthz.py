import datetime as dt
import json
import time

import pytest
import redis
from django.utils import timezone

from musicdrops.ops import health
from musicdrops.scheduler import heartbeat, services
from musicdrops.scheduler.models import DuplicateDispatch

pytestmark = pytest.mark.django_db


def beat(role: str) -> heartbeat.BeatInstance:
    instance = heartbeat.BeatInstance.current()
    heartbeat.publish(instance, role=role)
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

    from musicdrops.lib.redis import get_client

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
