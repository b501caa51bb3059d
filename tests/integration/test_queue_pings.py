"""A queue nobody consumes shows in /healthz even when no real work waits: nobody takes the beat's pings from it."""

from typing import Any

import pytest

from musicdrops.celery import app
from musicdrops.ops.health import health_report
from tests.integration.beats import NOWHERE
from tests.integration.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAST = {"QUEUE_PING_SECONDS": "1", "MUSICBRAINZ_URL": NOWHERE}
QUEUES = [queue.name for queue in app.conf.task_queues]  # CELERY_TASK_QUEUES: a queue added there is tested too


def queues() -> dict[str, dict[str, Any]]:
    _, body = health_report()
    return {name: body["checks"]["queues"][name] for name in QUEUES}


def test_every_worker_dead_is_queue_stuck_within_the_alert_age_and_a_live_one_clears_its_queue(start_process, settings):
    settings.QUEUE_AGE_ALERT_SECONDS = 4
    settings.QUEUE_PING_SECONDS = 1  # as the beat's
    beat = start_process("beat", **FAST)

    # No worker at all, nothing else queued: the pings alone make every queue stuck.
    wait_until(
        lambda: health_report()[1]["problems"] == ["queue-stuck"] and all(q["stuck"] for q in queues().values()),
        60,
        "every queue to be reported stuck",
        beat,
    )
    status, body = health_report()
    assert status == 200  # degraded, not failing: the web still serves
    assert body["status"] == "degraded"
    assert all(q["depth"] for q in queues().values()), "the pings wait in every queue"

    # A worker for one queue takes its pings; the others stay stuck.
    important = start_process("worker-important", MUSICBRAINZ_URL=NOWHERE)
    important.wait_for("ready.", timeout=60)
    wait_until(lambda: not queues()["important"]["stuck"], 30, "the important queue to move", important, beat)
    assert queues()["important"]["pinged_seconds_ago"] < 3
    assert [name for name, queue in queues().items() if queue["stuck"]] == [q for q in QUEUES if q != "important"]
    assert "ping_queue_task" in important.output()
