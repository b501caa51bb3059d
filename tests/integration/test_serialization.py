"""The worker accepts JSON only: a pickled or garbled message is refused, kept for inspection, never run.

No message of any shape stops a worker or vanishes: each is kept with why, counted in /metrics and /healthz.
"""

import base64
import contextlib
import json
import pickle
import uuid
from collections import Counter
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.utils import timezone
from prometheus_client import generate_latest

from musicdrops.accounts.tasks import clear_expired_sessions_task
from musicdrops.celery import app
from musicdrops.ops import health, metrics
from musicdrops.ops.tasks import ping_queue_task
from tests.integration.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TASK = "musicdrops.accounts.tasks.clear_expired_sessions_task"


class CreatesAFileWhenUnpickled:
    """What an attacker would send: unpickling it runs code (here, creating a file)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def publish_raw(body: object, **options: Any) -> None:
    """Put a message with Celery's headers but a body of our choosing on the regular queue."""
    headers = {"lang": "py", "task": TASK, "id": str(uuid.uuid4()), "argsrepr": "()", "kwargsrepr": "{}"}
    with app.connection_for_write() as connection:
        connection.Producer().publish(body, exchange="regular", routing_key="regular", headers=headers, **options)


def expire_a_session() -> None:
    Session.objects.create(session_key="e" * 32, session_data="", expire_date=timezone.now() - timedelta(days=1))


def test_a_pickled_message_is_refused_kept_and_never_unpickled(start_process, redis_client, run_dir):
    marker = run_dir / "pickle-was-loaded"
    worker = start_process("worker-regular")
    worker.wait_for("ready.")

    publish_raw(CreatesAFileWhenUnpickled(marker), serializer="pickle")
    expire_a_session()
    clear_expired_sessions_task.delay()  # a good task right behind it still runs

    wait_until(lambda: not Session.objects.exists(), 60, "the task after the refused one", worker)
    assert not marker.exists()
    kept_messages = redis_client.lrange(settings.REJECTED_MESSAGES_KEY, 0, -1)
    assert len(kept_messages) == 1, worker.output()
    [kept] = redis_client.lrange(settings.REJECTED_MESSAGES_KEY, 0, -1)
    record = json.loads(kept)
    assert record["content_type"] == "application/x-python-serialize"
    assert record["headers"]["task"] == TASK
    assert "ContentDisallowed" in record["error"]
    assert "Refusing to deserialize" in worker.output()


def test_a_garbled_json_message_is_refused_and_kept(start_process, redis_client):
    worker = start_process("worker-regular")
    worker.wait_for("ready.")

    publish_raw(b'{"truncated": [1, 2', content_type="application/json", content_encoding="utf-8")
    expire_a_session()
    clear_expired_sessions_task.delay()

    wait_until(lambda: not Session.objects.exists(), 60, "the task after the garbled one", worker)
    [kept] = redis_client.lrange(settings.REJECTED_MESSAGES_KEY, 0, -1)
    record = json.loads(kept)
    assert record["body"] == '{"truncated": [1, 2'
    assert worker.popen.poll() is None


def envelope(queue: str, *, body: bytes, headers: object, content_type: str = "application/json") -> str:
    """A Redis list item as kombu writes one (what an attacker, or a bug, can LPUSH straight onto a queue)."""
    return json.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": content_type,
            "headers": headers,
            "properties": {
                "delivery_mode": 2,
                "delivery_info": {"exchange": queue, "routing_key": queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
    )


def task_headers(name: str) -> dict[str, object]:
    return {"lang": "py", "task": name, "id": str(uuid.uuid4()), "argsrepr": "", "kwargsrepr": ""}


def call(args: object, kwargs: object) -> bytes:
    return json.dumps([args, kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]).encode()


def bad_messages(queue: str, marker: Path) -> dict[str, tuple[str | bytes, str]]:
    """Every shape of message no worker can run: name -> (the list item, what its kept record's error says)."""
    chunk = "musicdrops.drops.tasks.send_drop_chunk_task"
    slot = "2026-01-01T09:00:00+00:00"
    return {
        "not JSON": (b"\x80\x81 not JSON at all {", "not a JSON message"),
        "a JSON list": ("[1, 2, 3]", "not a message envelope"),
        "an envelope without properties": (json.dumps({"body": "x", "headers": {}}), "not a message envelope"),
        "a body that is not base64": (
            envelope(queue, body=b"", headers=task_headers(TASK)).replace('"body": ""', '"body": "abc"'),
            "not a message envelope",
        ),
        "a JSON body that is not JSON": (
            envelope(queue, body=b'{"truncated": [1, 2', headers=task_headers(TASK)),
            "DecodeError",
        ),
        "a JSON body that is not [args, kwargs, options]": (
            envelope(queue, body=b"[[], {}]", headers=task_headers(TASK)),
            "ValueError",
        ),
        "no task id": (
            envelope(queue, body=call([], {}), headers={"lang": "py", "task": TASK}),
            "KeyError",
        ),
        "a task name that is a list": (envelope(queue, body=call([], {}), headers={"task": [TASK]}), "TypeError"),
        "headers that are a list": (envelope(queue, body=call([], {}), headers=[1, 2]), "not a message envelope"),
        "pickle": (
            envelope(
                queue,
                body=pickle.dumps(CreatesAFileWhenUnpickled(marker)),
                headers=task_headers(TASK),
                content_type="application/x-python-serialize",
            ),
            "ContentDisallowed",
        ),
        "an unknown task": (envelope(queue, body=call([], {}), headers=task_headers("no.such_task")), "unknown"),
        "an extra positional argument": (
            envelope(queue, body=call([1], {}), headers=task_headers(TASK)),
            "arguments the task cannot take",
        ),
        "a chunk without its kwargs": (
            envelope(queue, body=call([], {"slot": slot}), headers=task_headers(chunk)),
            "arguments the task cannot take",
        ),
        "a chunk with wrong kwargs": (
            envelope(queue, body=call([], {"slot": slot, "start": 1, "end": 2}), headers=task_headers(chunk)),
            "arguments the task cannot take",
        ),
        "10 MB": (
            envelope(queue, body=call(["x" * 10_000_000], {}), headers=task_headers("no.such_big_task")),
            "unknown",
        ),
    }


def test_no_message_stops_a_worker_or_vanishes(start_process, redis_client, run_dir):
    """Every shape of bad message, straight onto each queue: kept with why, counted, reported; the worker goes on."""
    queues = health.queue_names()
    workers = {queue: start_process(f"worker-{queue}") for queue in queues}
    for worker in workers.values():
        worker.wait_for("ready.")
    marker = run_dir / "pickle-was-loaded-by-a-worker"
    shapes = {queue: bad_messages(queue, marker) for queue in queues}
    for queue in queues:
        for item, _ in shapes[queue].values():
            redis_client.lpush(queue, item)
        ping_queue_task.apply_async(kwargs={"queue": queue}, queue=queue)  # a good task behind them all still runs

    watched = list(workers.values())
    expected = sum(len(bad) for bad in shapes.values())
    wait_until(lambda: redis_client.hlen(health.PINGS_KEY) == len(queues), 120, "each queue's good task", *watched)
    with contextlib.suppress(AssertionError):  # the count below says which are missing
        wait_until(lambda: redis_client.llen(settings.REJECTED_MESSAGES_KEY) >= expected, 60, "all kept", *watched)

    raws = redis_client.lrange(settings.REJECTED_MESSAGES_KEY, 0, -1)
    records = [json.loads(raw) for raw in raws]
    assert len(records) == expected, "\n".join(f"{record['queue']}: {record['error']}" for record in records)
    assert max(len(raw) for raw in raws) <= settings.REJECTED_MESSAGE_BYTES
    for queue in queues:
        errors = sorted(record["error"] for record in records if record["queue"] == queue)
        assert len(errors) == len(shapes[queue]), errors
        for why, count in Counter(why for _, why in shapes[queue].values()).items():
            assert sum(why in error for error in errors) >= count, f"{queue}: {count} should say {why!r}: {errors}"
    big = next(record for record in records if record["headers"].get("task") == "no.such_big_task")
    assert big["body_size"] > 10_000_000
    assert not big["complete"]
    assert not marker.exists()
    for worker in watched:
        assert worker.popen.poll() is None, worker.output()[-3000:]

    report = health.check()
    assert health.MESSAGES_REJECTED in report.problems, report.problems  # degraded, but no beat runs here
    assert report.rejected is not None
    assert report.rejected.kept == expected
    scraped = generate_latest(metrics.registry()).decode()
    assert f"musicdrops_rejected_messages {float(expected)}" in scraped

    listing = StringIO()
    call_command("rejected_messages", "--limit", "5", stdout=listing)
    assert f"{expected} kept" in listing.getvalue()
    assert "why: " in listing.getvalue()
    assert len(listing.getvalue().splitlines()) <= 1 + 3 * 5 + 1  # bounded, however many are kept
    call_command("rejected_messages", "--clear", stdout=StringIO())
    assert redis_client.llen(settings.REJECTED_MESSAGES_KEY) == 0
    assert health.MESSAGES_REJECTED not in health.check().problems
