"""/healthz while Redis came back empty mid-send: the queued work is gone until the sweep queues it again."""

import datetime as dt

import pytest
import redis
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from musicdrops.accounts.models import User
from musicdrops.drops import fanout
from musicdrops.drops.models import Delivery, DropSend
from musicdrops.ops import health
from tests.ops.test_healthz import beat

pytestmark = pytest.mark.django_db

LOST = "drops-lost-with-redis"


def a_send(*, users: int = 2, started_ago: dt.timedelta = dt.timedelta(minutes=5), **fields) -> DropSend:
    """A send of the current hour, started ``started_ago`` and fanned out, whose ``users`` are due: none sent yet."""
    now = timezone.now()
    send = DropSend.objects.create(
        slot=fanout.slot_of(now), started_at=now - started_ago, **({"fanned_out_at": now} | fields)
    )
    for n in range(users):
        Delivery.objects.create(
            user=User.objects.create_user(f"fan{n}@example.com"), slot=send.slot, day=now.date(),
            period=str(now.date()), lease_until=now + dt.timedelta(minutes=10), queued_at=now,
        )  # fmt: skip
    return send


def sweep() -> list[int]:
    """The beat's sweep, run here; the users it queues again."""
    queued: list[int] = []
    fanout.drops_sweep(queue=lambda _, users: queued.extend(users), queue_page=lambda _: None)
    return queued


def test_a_send_whose_queues_redis_lost_is_degraded_until_the_sweep_queues_its_users_again(client):
    beat("active")
    a_send(users=2)  # Redis is empty: the sweep's mark, and the send's queued chunks, are gone

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["problems"] == [LOST]
    assert body["checks"]["drops"] | {"ms": 0} == {
        "ok": False, "ms": 0, "overdue": 0, "oldest_overdue_seconds": None, "unfinished_fan_outs": 0,
        "lost_with_redis": True,
    }  # fmt: skip

    assert len(sweep()) == 2  # every user due, although their reservations have ten minutes to run

    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["checks"]["drops"]["ok"] is True
    assert "lost_with_redis" not in body["checks"]["drops"]


def test_a_fan_out_under_way_when_redis_came_back_empty_is_lost_work_too(client, redis_client):
    beat("active")
    a_send(users=0, fanned_out_at=None)  # its next page's message was in Redis

    assert client.get("/healthz").json()["problems"] == [LOST]

    redis_client.set(fanout.QUEUES_MARK, "1")  # the sweep has looked, and taken the fan-out up

    assert client.get("/healthz").json()["status"] == "ok"


@pytest.mark.parametrize(
    "history",
    [
        "nothing",  # a first start: an empty Redis, an empty ledger
        "sent",  # every user of the last send had the email
        "past-retries",  # users left due by a send older than DROPS_RETRY_HOURS: nobody queues them any more
    ],
)
def test_an_empty_redis_with_no_send_under_way_is_no_problem(client, settings, history):
    beat("active")
    if history == "sent":
        a_send(users=2)
        Delivery.objects.update(status="sent", sent_at=timezone.now())
    elif history == "past-retries":
        a_send(users=2, started_ago=dt.timedelta(hours=settings.DROPS_RETRY_HOURS, minutes=1))

    body = client.get("/healthz").json()

    assert body["status"] == "ok"
    assert LOST not in body["problems"]


def test_while_redis_is_down_it_is_reported_once_as_redis(client, monkeypatch):
    beat("active")
    a_send(users=2)
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(health, "get_client", lambda: dead)

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["checks"]["redis"]["ok"] is False
    assert LOST not in body["problems"]
    assert body["checks"]["drops"]["ok"] is True


def test_it_is_one_problem_more_in_the_same_one_query(client, django_assert_num_queries):
    beat("active")
    a_send(users=2, started_ago=dt.timedelta(hours=1), fanned_out_at=None)
    client.get("/healthz")  # the connection is open

    with django_assert_num_queries(1):
        body = client.get("/healthz").json()

    assert body["problems"] == ["drops-overdue", LOST]


def test_metrics_count_it_while_healthz_reports_it(client, redis_client, settings):
    settings.METRICS_TOKEN = token = "a-scrape-token-0123456789"
    beat("active")
    a_send(users=2)

    def problem() -> float | None:
        text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).content.decode()
        found = {
            tuple(sample.labels.items()): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "musicdrops_problem"
        }
        return found.get((("problem", LOST),))

    assert problem() == 1
    redis_client.set(fanout.QUEUES_MARK, "1")
    assert problem() is None
