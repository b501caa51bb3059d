import pytest
import redis

from musicdrops.ops import health
from musicdrops.scheduler import heartbeat

pytestmark = pytest.mark.django_db


def beat(role: str) -> heartbeat.BeatInstance:
    instance = heartbeat.BeatInstance.current()
    heartbeat.publish(instance, role=role)
    return instance


def test_healthy_with_database_redis_and_one_active_beat(client):
    beat("active")
    beat("standby")

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"]
    assert body["checks"]["redis"]["ok"]
    assert body["checks"]["beat"] | {"last_seen": None} == {
        "ok": True,
        "live": 2,
        "active": 1,
        "ms": body["checks"]["beat"]["ms"],
        "last_seen": None,
    }


def test_no_beat_is_a_failure(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["beat"] == {"ok": False, "live": 0, "active": 0, "ms": pytest.approx(0, abs=50)}


def test_two_active_beats_are_a_failure(client):
    beat("active")
    beat("active")

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["beat"]["active"] == 2


def test_a_withdrawn_beat_is_gone_at_once(client):
    instance = beat("active")
    heartbeat.withdraw(instance)

    assert client.get("/healthz").status_code == 503


def test_redis_down_is_a_503_with_the_reason_not_a_500(client, monkeypatch):
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(health, "get_client", lambda: dead)

    response = client.get("/healthz")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"] == {"ok": False, "error": "ConnectionError", "ms": checks["redis"]["ms"]}
    assert checks["beat"]["ok"] is False
    assert checks["database"]["ok"] is True


def test_health_is_never_cached_and_only_read(client):
    response = client.get("/healthz")

    assert "no-store" in response.headers["Cache-Control"]
    assert client.post("/healthz").status_code == 405


def test_corrupt_heartbeat_keys_are_ignored(client, redis_client):
    redis_client.set(heartbeat.KEY_PREFIX + "junk", "not json")
    beat("active")

    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "10.1.2.3", "not-an-allowed-host.example"])
def test_probes_by_any_host_name_get_an_answer(client, host, settings):
    settings.ALLOWED_HOSTS = ["musicdrops.example.com"]
    beat("active")

    assert client.get("/healthz", HTTP_HOST=host).status_code == 200
    assert client.get("/", HTTP_HOST=host).status_code == 400
