"""The worker accepts JSON only: a pickled or garbled message is refused, kept for inspection, never run."""

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone

from musicdrops.accounts.tasks import clear_expired_sessions_task
from musicdrops.celery import app
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
