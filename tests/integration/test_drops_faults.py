"""Drills: the daily send under the faults production meets, with real processes, PostgreSQL, Redis and SMTP.

Every drill counts every recipient at the SMTP server: everyone gets exactly
one email; the only repeats allowed are messages in flight when a worker was
killed or frozen (or PostgreSQL went away before the send was recorded), each
with one Message-ID. /healthz must say "degraded" while users are overdue
and "ok" once they are served. Figures are printed (pytest -s).
"""

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from musicdrops.drops.models import Delivery
from musicdrops.ops.health import health_report
from musicdrops.scheduler import heartbeat
from tests.integration.drills import DRILL_ENV, assert_exactly_once, ledger_settled, seed
from tests.integration.fault_fixtures import faulty_smtp_fixture, private_postgres_fixture  # noqa: F401
from tests.integration.faults import FaultySmtp
from tests.integration.processes import Process, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PROVIDER_DELAY = 0.01  # each message answered 10 ms late, like a provider across the internet


class HealthWatch:
    """/healthz's status and problems, sampled in the background while a drill runs, each at its probe's start."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str, tuple[str, ...]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from django.db import connection

        try:
            while not self._stop.wait(0.25):
                started = time.monotonic()  # what a probe reports is the state as it began: a slow one ends later
                try:
                    _, body = health_report()
                except Exception as error:  # a sample like any other
                    self.seen.append((started, f"error: {type(error).__name__}", ()))
                    continue
                self.seen.append((started, body["status"], tuple(body["problems"])))
        finally:
            connection.close()

    def __enter__(self) -> "HealthWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def problems(self) -> set[str]:
        return {problem for _, _, problems in self.seen for problem in problems}


def health_now() -> tuple[str, list[str]]:
    _, body = health_report()
    return body["status"], body["problems"]


@dataclass
class Stack:
    """Regular workers and one beat (its sweep finds whoever is left) on the drill clocks, sending to ``smtp``."""

    start_process: Callable[..., Process]
    smtp: FaultySmtp
    processes: list[Process]

    def start_worker(self, **env: str) -> Process:
        worker = self.start_process("worker-drops", **{**DRILL_ENV, "EMAIL_URL": self.smtp.url, **env})
        worker.wait_for("ready.")
        self.processes.append(worker)
        return worker

    def start_beat(self, **env: str) -> Process:
        beat = self.start_process("beat", **{**DRILL_ENV, "EMAIL_URL": self.smtp.url, **env})
        self.processes.append(beat)
        wait_until(lambda: any(b.role == "active" for b in heartbeat.live_beats()), 30, "the beat to lead", beat)
        return beat

    def send(self) -> None:
        """Queue today's send, as the beat's daily entry (or an operator) does."""
        command = self.start_process("release", command="python manage.py send_music_drops")
        assert command.popen.wait(60) == 0, command.output()

    def alive(self) -> list[Process]:
        return [p for p in self.processes if p.popen.poll() is None]

    def everyone_served(self, expected: int, timeout: float) -> float:
        """Wait until every user got the email and the ledger says so; return how long it took."""
        started = time.monotonic()
        wait_until(lambda: len(self.smtp.recipients()) >= expected, timeout, f"{expected} users", *self.alive())
        wait_until(lambda: ledger_settled(expected), 30, "the ledger to show everyone sent", *self.alive())
        took = time.monotonic() - started
        time.sleep(2)  # anything sent twice would arrive now
        return took


@pytest.fixture
def stack(start_process, faulty_smtp: FaultySmtp, settings) -> Stack:
    faulty_smtp.delay = PROVIDER_DELAY
    # This process's /healthz reads the same ledger as the children: on the same clocks.
    for name in ("DROPS_OVERDUE_SECONDS", "DROPS_LEASE_SECONDS", "DROPS_PICKUP_SECONDS"):
        setattr(settings, name, int(DRILL_ENV[name]))
    return Stack(start_process, faulty_smtp, [])


def assert_ok_once_served() -> None:
    wait_until(lambda: health_now()[0] == "ok", 20, "/healthz to say ok")


@pytest.mark.parametrize(
    ("lease", "visibility", "freeze"),
    [
        # Frozen past the broker's visibility timeout, within the lease: the redelivered copy must not take over.
        (40, 8, 16),
        # Frozen past the lease too: another attempt takes over; the thawed one stops at its first record.
        (8, 10, 20),
    ],
    ids=["past-visibility-timeout", "past-lease"],
)
def test_a_worker_frozen_mid_send_then_resumed(stack, lease, visibility, freeze):
    expected = seed(3000)
    env = {"DROPS_LEASE_SECONDS": str(lease), "BROKER_VISIBILITY_TIMEOUT": str(visibility)}
    victim, _ = stack.start_worker(**env), stack.start_worker(**env)
    stack.start_beat(**env)
    with HealthWatch() as health:
        stack.send()
        wait_until(lambda: stack.smtp.accepted >= 300, 60, "the send to be under way", *stack.alive())
        victim.send_signal(signal.SIGSTOP)  # a VM pause: the whole worker, pool and all
        at_freeze = stack.smtp.accepted
        time.sleep(freeze)
        victim.send_signal(signal.SIGCONT)
        took = stack.everyone_served(expected, 120)
    figures = assert_exactly_once(stack.smtp.messages, expected, in_flight=2)  # one per frozen pool process
    print(f"\nfrozen {freeze} s after {at_freeze} emails (lease {lease} s, visibility timeout {visibility} s): "
          f"everyone served {took:.1f} s after the thaw; {figures}")  # fmt: skip
    assert Delivery.objects.filter(status="failed").count() == 0
    assert_ok_once_served()
    assert health.seen


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_a_mail_server_that_says_try_later_for_30_s_delays_the_email_and_loses_nobody(stack, stage):
    expected = seed(300)
    stack.start_worker()
    stack.start_beat()
    stack.smtp.refuse(451, "4.7.1 Try again later", stage=stage, seconds=30)  # greylisting, throttling
    with HealthWatch() as health:
        stack.send()
        took = stack.everyone_served(expected, 90)
    figures = assert_exactly_once(stack.smtp.messages, expected)
    print(f"\n451 at {stage} for 30 s: {stack.smtp.refused} refusals; everyone served {took:.1f} s after the send "
          f"started; {figures}")  # fmt: skip
    assert took >= 29, "nobody can have got it while the server refused"
    assert Delivery.objects.filter(status="failed").count() == 0, "a 4xx is temporary"
    assert "drops-overdue" in health.problems()
    worker_log = stack.processes[0].output()
    assert "WARNING" in worker_log
    assert "Try again later" in worker_log
    assert_ok_once_served()


def test_a_server_that_closes_with_421_mid_send_loses_nobody(stack):
    expected = seed(300)
    stack.start_worker()
    stack.start_beat()
    stack.smtp.disconnect_with_421(stage="data", count=5)
    stack.send()
    took = stack.everyone_served(expected, 60)
    figures = assert_exactly_once(stack.smtp.messages, expected)
    print(f"\n421 at the end of 5 messages: everyone served in {took:.1f} s; {figures}")
    assert Delivery.objects.filter(status="failed").count() == 0


def test_a_permanent_refusal_fails_that_address_only_at_warning(stack):
    expected = seed(50)
    stack.start_worker()
    stack.start_beat()
    refused = "listener00007@demo.musicdrops.local"
    stack.smtp.refuse_recipient(refused)
    stack.send()
    wait_until(lambda: len(stack.smtp.recipients()) >= expected - 1, 60, "everyone else", *stack.alive())
    wait_until(lambda: Delivery.objects.filter(status="failed").count() == 1, 20, "the failure recorded")
    assert refused not in stack.smtp.recipients()
    assert Delivery.objects.get(status="failed").user.email == refused
    log = stack.processes[0].output()
    assert "WARNING" in log.split("refused for good")[0].rsplit("\n", 1)[-1]


def test_a_slow_mail_server_520_ms_per_message_loses_nobody(stack):
    expected = seed(40, one_slot=True)  # one chunk of 41, longer than a chunk's 4 s
    stack.smtp.delay = 0.52
    stack.start_worker()
    stack.start_beat()
    stack.send()
    took = stack.everyone_served(expected, 90)
    figures = assert_exactly_once(stack.smtp.messages, expected)
    handed_on = stack.processes[0].output().count("time_up=True")
    print(f"\n520 ms per message: everyone served in {took:.1f} s, {handed_on} chunks handed on; {figures}")
    assert handed_on >= 1, "a chunk's time ran out and it handed the rest on"
    assert_ok_once_served()


def test_a_worker_killed_twice_mid_send_is_recovered_by_the_sweep_not_the_visibility_timeout(stack):
    expected = seed(1500)
    # Production's visibility timeout: waiting for redelivery would take ten minutes.
    env = {"BROKER_VISIBILITY_TIMEOUT": "600"}
    worker = stack.start_worker(**env)
    stack.start_beat(**env)
    with HealthWatch() as health:
        stack.send()
        for kill in (300, 700):
            wait_until(lambda: stack.smtp.accepted >= kill, 60, f"{kill} emails", *stack.alive())  # noqa: B023
            worker.stop(signal.SIGKILL)
            stack.processes.remove(worker)
            worker = stack.start_worker(**env)
        killed_at = time.monotonic()
        took = stack.everyone_served(expected, 90)
    figures = assert_exactly_once(stack.smtp.messages, expected, in_flight=4)  # two pool processes, twice
    print(f"\nkilled twice: everyone served {took:.1f} s after the second kill's replacement started; {figures}")
    assert time.monotonic() - killed_at < 120
    assert "drops-overdue" in health.problems()
    assert_ok_once_served()


def test_the_beat_killed_in_its_slot_and_restarted_raises_no_zombie_alarm(stack):
    seed(5)
    every = {"MUSIC_DROPS_EVERY_SECONDS": "3"}
    stack.start_worker(**every)
    beat = stack.start_beat(**every)
    time.sleep(4)
    with HealthWatch() as health:
        beat.stop(signal.SIGKILL)
        stack.processes.remove(beat)
        stack.start_beat(**every)
        time.sleep(8)
    print(f"\nbeat killed and restarted: problems seen {sorted(health.problems())}")
    assert "several-beats" not in health.problems()
    assert len(heartbeat.live_beats()) == 1


PG_DOWN_SECONDS = 180  # the outage; a fixed count of retries (10, with back-off) ran out inside it


def test_postgresql_down_for_3_minutes_mid_send_loses_nobody(start_process, faulty_smtp, private_postgres):
    """The worker and the beat use a PostgreSQL of this test's own, stopped mid-send and started 3 minutes later."""
    url = private_postgres.create_database("drill")
    env = {**DRILL_ENV, "EMAIL_URL": faulty_smtp.url, "DATABASE_URL": url}
    faulty_smtp.delay = PROVIDER_DELAY
    for command in ("python manage.py migrate --noinput", "python manage.py seed_demo --users 1000"):
        done = start_process("release", command=command, **env)
        assert done.popen.wait(120) == 0, done.output()
    expected = 1001
    worker = start_process("worker-drops", **env)
    worker.wait_for("ready.")
    beat = start_process("beat", **env)
    sender = start_process("release", command="python manage.py send_music_drops", **env)
    assert sender.popen.wait(60) == 0, sender.output()

    wait_until(lambda: faulty_smtp.accepted >= 150, 60, "the send to be under way", worker, beat)
    private_postgres.stop("fast")  # a failover or a maintenance restart: every connection dropped
    at_stop = faulty_smtp.accepted
    time.sleep(PG_DOWN_SECONDS)
    during = faulty_smtp.accepted - at_stop
    private_postgres.start()
    back = time.monotonic()
    wait_until(lambda: len(faulty_smtp.recipients()) >= expected, 120, f"{expected} users", worker, beat)
    took = time.monotonic() - back
    time.sleep(2)  # anything sent twice would arrive now

    with private_postgres.connect("drill") as connection:
        statuses = dict(connection.execute("SELECT status, count(*) FROM drops_delivery GROUP BY status").fetchall())
    figures = assert_exactly_once(faulty_smtp.messages, expected, in_flight=2)  # sent, not yet recorded
    retries = worker.output().count("again in")
    print(f"\nPostgreSQL down {PG_DOWN_SECONDS} s after {at_stop} emails ({during} more went out meanwhile, "
          f"unrecorded); {retries} retries logged; everyone served {took:.1f} s after it came back; "
          f"ledger {statuses}; {figures}")  # fmt: skip
    assert statuses == {"sent": expected}
    assert retries > 10, "more retries than a fixed count would have allowed"
