"""`manage.py rejected_messages`: what workers refused, and why; acknowledged, removed; /healthz and /metrics say so."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from musicdrops import rejected_messages
from musicdrops.ops import health

pytestmark = pytest.mark.django_db


def keep(n: int) -> None:
    for i in range(n):
        rejected_messages.rejected_message_keep(
            error=f"unknown task: 'no.such_task_{i}'",
            queue="regular",
            body=b"[[], {}, {}]" + b" " * 1000,
            content_type="application/json",
            headers={"task": f"no.such_task_{i}", "id": str(i)},
        )


def run(*args: str) -> str:
    out = StringIO()
    call_command("rejected_messages", *args, stdout=out)
    return out.getvalue()


def test_lists_the_newest_with_why_and_a_bounded_preview():
    keep(30)

    listing = run()

    lines = listing.splitlines()
    assert lines[0] == "30 kept (30 ever, 30 since the last --acknowledge)."
    assert "task no.such_task_29" in lines[1]
    assert lines[2] == "    why: unknown task: 'no.such_task_29'"
    assert len(lines[3]) < 200
    assert lines[-1] == "… and 10 older (--limit)."
    assert len(lines) == 1 + 3 * 20 + 1


def test_show_prints_one_whole_and_remove_takes_it_away():
    keep(2)
    [newest, _] = rejected_messages.rejected_messages_list(limit=2)

    assert '"error": "unknown task: ' in run("--show", newest.id)
    assert run("--remove", newest.id) == "Removed 1 of 1.\n"
    with pytest.raises(CommandError):
        run("--show", newest.id)


def test_healthz_reports_them_until_acknowledged_or_cleared(client):
    keep(2)

    body = client.get("/healthz").json()
    assert health.MESSAGES_REJECTED in body["problems"]
    assert body["checks"]["rejected_messages"] == {"ok": False, "ms": 0.0, "kept": 2}

    run("--acknowledge")
    assert health.MESSAGES_REJECTED not in health.check().problems
    keep(1)
    assert health.MESSAGES_REJECTED in health.check().problems
    assert run("--clear") == "Removed 3.\n"
    assert health.MESSAGES_REJECTED not in health.check().problems


def test_metrics_count_the_kept_and_every_one_ever(client, settings):
    settings.METRICS_TOKEN = "t" * 32
    keep(3)
    run("--clear")
    keep(1)

    scraped = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {'t' * 32}").content.decode()

    assert "musicdrops_rejected_messages 1.0" in scraped
    assert "musicdrops_messages_rejected_total 4.0" in scraped


def test_requeue_says_how_many_it_published_and_left(client):
    keep(1)
    rejected_messages.rejected_message_keep(error="not JSON", queue="regular", body=b"\x80")

    assert run("--requeue") == "Requeued 1; 1 left kept (not whole JSON task messages of our queues).\n"
