"""A queue nobody consumes shows in /healthz even when no real work waits: the beat's pings grow old in it."""

import pytest

from musicdrops.ops.health import health_report
from tests.integration.beats import NOWHERE
from tests.integration.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAST = {"QUEUE_PING_SECONDS": "1", "MUSICBRAINZ_URL": NOWHERE}


def oldest(queue: str) -> float:
    _, body = health_report()
    return float(body["checks"]["queues"][queue]["oldest_seconds"] or 0)


def test_every_worker_dead_is_queue_stuck_within_the_alert_age_and_a_live_one_clears_its_queue(start_process, settings):
    settings.QUEUE_AGE_ALERT_SECONDS = 4
    beat = start_process("beat", **FAST)

    # No worker at all, nothing else queued: the pings alone make every queue stuck.
    queues = ["regular", "important", "drops"]
    wait_until(
        lambda: health_report()[1]["problems"] == ["queue-stuck"] and min(map(oldest, queues)) > 4,
        60,
        "every queue to be reported stuck",
        beat,
    )
    status, body = health_report()
    assert status == 200  # degraded, not failing: the web still serves
    assert body["status"] == "degraded"

    # A worker for one queue drains its pings; the others stay stuck.
    important = start_process("worker-important", MUSICBRAINZ_URL=NOWHERE)
    important.wait_for("ready.", timeout=60)
    wait_until(lambda: oldest("important") < 2, 30, "the important queue to move", important, beat)
    assert oldest("regular") > 4
    assert oldest("drops") > 4
    assert "ping_queue_task" in important.output()
