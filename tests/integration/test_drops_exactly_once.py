"""Exactly one email per user per day, whatever the schedulers and workers do. Real beats, workers, SMTP."""

import asyncio
import collections
import signal
import time

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from musicdrops.drops.models import Delivery
from musicdrops.drops.services import SEND_THREADS
from musicdrops.ops.demo import demo_seed
from musicdrops.scheduler.models import DuplicateDispatch, ScheduledRun
from tests.integration.conftest import SmtpSink
from tests.integration.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

NOWHERE = "http://127.0.0.1:9/ws/2"  # MusicBrainz: refuse at once, the catalog sync is not under test here


def recipients(sink: SmtpSink) -> collections.Counter[str]:
    return collections.Counter(str(m["To"]) for m in sink.messages)


def seed(users: int) -> int:
    demo_seed(
        users=users, demo_email_address="demo@example.com", demo_password="pw-demo-1234", today=timezone.localdate()
    )
    return users + 1  # and the demo login


def test_two_redbeats_and_a_lock_ignoring_beat_send_each_user_exactly_one_email(start_process, smtp_server, run_dir):
    expected = seed(60)
    env = {"EMAIL_URL": smtp_server.url, "MUSIC_DROPS_EVERY_SECONDS": "3", "MUSICBRAINZ_URL": NOWHERE}
    worker = start_process("worker_regular", **env)
    worker.wait_for("ready.")
    beats = [start_process("beat", **env) for _ in range(2)]
    # Celery's default scheduler: a schedule file and no lock, like a beat left over from old code.
    old_style = f"celery -A musicdrops beat -S celery.beat:PersistentScheduler -s {run_dir}/celerybeat-schedule"
    rogue = start_process("beat", command=old_style, **env)

    wait_until(lambda: len(smtp_server.messages) >= expected, 60, f"{expected} emails", worker, *beats, rogue)
    # Keep all three schedulers running across several more slots.
    wait_until(lambda: ScheduledRun.objects.filter(entry="send-music-drops").count() >= 4, 30, "4 slots", *beats)
    time.sleep(3)

    counts = recipients(smtp_server)
    print(f"{len(smtp_server.messages)} emails to {len(counts)} users over "
          f"{ScheduledRun.objects.filter(entry='send-music-drops').count()} slots; "
          f"{DuplicateDispatch.objects.count()} dispatches refused")  # fmt: skip
    assert len(counts) == expected
    assert max(counts.values()) == 1
    assert Delivery.objects.filter(status="sent").count() == expected
    # The rogue beat's dispatches were seen, recorded with where they came from, and ignored.
    foreign = DuplicateDispatch.objects.filter(reason="foreign")
    assert foreign.exists()
    assert all(d.origin for d in foreign)
    assert rogue.popen.poll() is None


class SlowRecipientHandler:
    """An SMTP server that takes a while before accepting each recipient (so a send is long enough to interrupt).

    It offers PIPELINING, as the mail servers we send to do, so the drill
    interrupts the same stream of commands production sends (aiosmtpd reads
    pipelined commands in order either way).
    """

    def __init__(self, sink: SmtpSink, delay: float) -> None:
        self.sink = sink
        self.delay = delay

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        await asyncio.sleep(self.delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        return await self.sink.handle_DATA(server, session, envelope)


def test_a_worker_killed_mid_send_and_restarted_sends_each_user_exactly_one_email(start_process):
    from musicdrops.lib.localredis import free_port

    expected = seed(400)
    sink = SmtpSink(port=free_port())
    controller = Controller(
        SlowRecipientHandler(sink, 0.02), hostname="127.0.0.1", port=sink.port, loop=asyncio.new_event_loop()
    )
    controller.start()
    try:
        # Redelivery after a SIGKILL waits for the visibility timeout: shortened here so the test
        # doesn't wait 10 minutes, but, as in production, longer than a chunk takes (about 9 s here).
        env = {"EMAIL_URL": sink.url, "BROKER_VISIBILITY_TIMEOUT": "20", "MUSICBRAINZ_URL": NOWHERE}
        worker = start_process("worker_regular", **env)
        worker.wait_for("ready.")
        start_process("release", command="python manage.py send_music_drops").popen.wait(60)

        wait_until(lambda: len(sink.messages) >= 60, 60, "the send to be under way", worker)
        worker.stop(signal.SIGKILL)
        at_kill = len(sink.messages)
        assert at_kill < expected, "the send finished before the kill: nothing was tested"

        killed_at = time.monotonic()
        replacement = start_process("worker_regular", **env)
        sink.wait_for(expected, timeout=120)
        print(f"all sent {time.monotonic() - killed_at:.1f} s after the kill")
        time.sleep(2)  # anything sent twice would arrive now
    finally:
        controller.stop()

    counts = collections.Counter(str(m["To"]) for m in sink.messages)
    repeats = len(sink.messages) - len(counts)
    print(f"killed after {at_kill} of {expected} emails; after the restart: {len(sink.messages)} emails, "
          f"{len(counts)} users, {repeats} repeated")  # fmt: skip
    assert len(counts) == expected  # nobody missed out
    # The one window (documented in the README): a message the server accepted just as the worker
    # died, before its "sent" mark. Only a message in flight can be repeated — at most one per SMTP
    # connection: SEND_THREADS in each of the worker's two pool processes (the Procfile's
    # concurrency) — and a repeat is the same email, with the same Message-ID.
    assert repeats <= SEND_THREADS * 2
    message_ids: dict[str, set[str]] = collections.defaultdict(set)
    for message in sink.messages:
        message_ids[str(message["To"])].add(str(message["Message-ID"]))
    assert all(len(ids) == 1 for ids in message_ids.values())
    assert replacement.popen.poll() is None


def test_running_a_days_send_again_is_a_no_op(start_process, smtp_server):
    expected = seed(5)
    worker = start_process("worker_regular", EMAIL_URL=smtp_server.url, MUSICBRAINZ_URL=NOWHERE)
    worker.wait_for("ready.")

    for _ in range(2):
        start_process("release", command="python manage.py send_music_drops").popen.wait(60)
    smtp_server.wait_for(expected)
    wait_until(lambda: DuplicateDispatch.objects.filter(reason="same-slot").exists(), 30, "the rerun", worker)
    time.sleep(1)

    assert len(smtp_server.messages) == expected
    assert DuplicateDispatch.objects.get().scheduler["command"] == "send_music_drops"
