"""Drills: the push channel under the faults production meets, with real workers, PostgreSQL and Redis, pushing to
a local ntfy/webhook-compatible server (push_server.py) and emailing to the faulty SMTP server.

Every fan has a push channel (every second one email too). Each drill counts at the push server: every fan gets
exactly one push for the period; the only repeats allowed are pushes in flight when a worker was killed. Figures
are printed (pytest -s).
"""

import collections
import signal
import time
from collections.abc import Callable

import pytest

from musicdrops.accounts.models import User
from musicdrops.drops.models import Delivery, PushChannel
from tests.integration.drills import DRILL_ENV, assert_exactly_once, ledger_settled, seed
from tests.integration.fault_fixtures import faulty_smtp_fixture  # noqa: F401
from tests.integration.faults import FaultySmtp
from tests.integration.processes import Process, wait_until
from tests.integration.push_server import Behaviour, PushServer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# The workers may push to the local server over http; tests/drops/test_safe_http.py keeps these checks on.
PUSH_ENV = {**DRILL_ENV, "SAFE_HTTP_ALLOW_HTTP": "1", "SAFE_HTTP_ALLOW_LOOPBACK": "1", "SAFE_HTTP_READ_SECONDS": "2"}


class PushStack:
    def __init__(self, start_process: Callable[..., Process], smtp: FaultySmtp, server: PushServer, base: str) -> None:
        self.start_process, self.smtp, self.server, self.base = start_process, smtp, server, base
        self.processes: list[Process] = []

    def seed(self, users: int, **kwargs: bool) -> tuple[int, int]:
        """Fans with news and a push channel each (every second one email too); (pushes due, emails due)."""
        seed(users, **kwargs)
        emails = 0
        for n, pk in enumerate(User.objects.order_by("pk").values_list("pk", flat=True)):
            both = n % 2 == 0
            emails += both
            path = f"/discord/{pk}" if n % 3 == 0 else f"/fan-{pk}"  # ntfy and Discord-style both
            PushChannel.objects.create(user_id=pk, url=self.base + path, mode="both" if both else "push",
                                       kind="discord" if n % 3 == 0 else "ntfy")  # fmt: skip
        return users + 1, emails

    def start_worker(self, **env: str) -> Process:
        worker = self.start_process("worker-drops", **{**PUSH_ENV, "EMAIL_URL": self.smtp.url, **env})
        worker.wait_for("ready.")
        self.processes.append(worker)
        return worker

    def start_beat(self) -> Process:
        beat = self.start_process("beat", **{**PUSH_ENV, "EMAIL_URL": self.smtp.url})
        self.processes.append(beat)
        return beat

    def send(self) -> None:
        command = self.start_process("release", command="python manage.py send_music_drops")
        assert command.popen.wait(60) == 0, command.output()

    def alive(self) -> list[Process]:
        return [p for p in self.processes if p.popen.poll() is None]

    def everyone_served(self, pushes: int, emails: int, timeout: float) -> float:
        started = time.monotonic()
        wait_until(lambda: len(self.server.accepted) >= pushes, timeout, f"{pushes} pushes", *self.alive())
        wait_until(lambda: len(self.smtp.recipients()) >= emails, 30, f"{emails} emails", *self.alive())
        wait_until(lambda: ledger_settled(pushes + emails), 30, "the ledger to show everyone sent", *self.alive())
        took = time.monotonic() - started
        time.sleep(2)  # anything sent twice would arrive now
        return took

    def assert_pushed_once(self, pushes: int, *, in_flight: int = 0) -> dict[str, int]:
        repeats = sum(self.server.accepted.values()) - len(self.server.accepted)
        figures = {"pushes": sum(self.server.accepted.values()), "fans": len(self.server.accepted),
                   "repeats": repeats, "requests": self.server.requests}  # fmt: skip
        print(f"push drill: {figures}")
        assert len(self.server.accepted) == pushes, f"{pushes - len(self.server.accepted)} fans got no push"
        assert repeats <= in_flight, f"{repeats} repeats, at most {in_flight} allowed (in flight)"
        return figures


@pytest.fixture
def stack(start_process, faulty_smtp: FaultySmtp, settings):
    for name in ("DROPS_OVERDUE_SECONDS", "DROPS_LEASE_SECONDS", "DROPS_PICKUP_SECONDS"):
        setattr(settings, name, int(DRILL_ENV[name]))
    server = PushServer()
    base = server.start()
    yield PushStack(start_process, faulty_smtp, server, base)
    server.stop()


@pytest.mark.parametrize(
    "fault",
    ["429-for-the-first-60", "503-for-5-s", "slow-300-ms"],
)
def test_every_fan_gets_one_push_when_the_endpoint_throttles_fails_or_is_slow(stack, fault):
    if fault == "slow-300-ms":
        pushes, emails = stack.seed(30, one_slot=True)  # one chunk, longer than a chunk's 4 s
        stack.server.behaviour = Behaviour(delay=0.3)
    else:
        pushes, emails = stack.seed(200)
        stack.server.behaviour = (
            Behaviour(throttle_first=60) if fault.startswith("429") else Behaviour(fail_until=time.monotonic() + 5)
        )
    worker = stack.start_worker()
    stack.start_beat()
    stack.send()
    took = stack.everyone_served(pushes, emails, 60)
    figures = stack.assert_pushed_once(pushes)
    assert_exactly_once(stack.smtp.messages, emails)
    print(f"\n{fault}: everyone served in {took:.1f} s; {figures}")
    if fault == "slow-300-ms":
        assert worker.output().count("time_up=True") >= 1, "a chunk's time ran out and it handed the rest on"
    else:
        assert stack.server.requests > pushes, "the endpoint's refusals were retried"
    assert not Delivery.objects.filter(status="failed").exists()


def test_a_worker_killed_mid_push_repeats_only_pushes_in_flight(stack):
    pushes, emails = stack.seed(600)
    stack.server.behaviour = Behaviour(delay=0.005)
    worker = stack.start_worker(BROKER_VISIBILITY_TIMEOUT="600")
    stack.start_beat()
    stack.send()
    wait_until(lambda: sum(stack.server.accepted.values()) >= 150, 60, "150 pushes", *stack.alive())
    worker.stop(signal.SIGKILL)
    stack.processes.remove(worker)
    stack.start_worker(BROKER_VISIBILITY_TIMEOUT="600")
    took = stack.everyone_served(pushes, emails, 60)
    figures = stack.assert_pushed_once(pushes, in_flight=2)  # two pool processes, one push each in flight
    assert_exactly_once(stack.smtp.messages, emails, in_flight=2)
    by_count = collections.Counter(stack.server.accepted.values())
    print(f"\nkilled mid-push: everyone served {took:.1f} s after; {figures}; pushes per fan {dict(by_count)}")


def test_a_worker_frozen_mid_push_past_its_lease_repeats_only_pushes_in_flight(stack):
    pushes, emails = stack.seed(600)
    stack.server.behaviour = Behaviour(delay=0.005)
    env = {"DROPS_LEASE_SECONDS": "8", "BROKER_VISIBILITY_TIMEOUT": "10"}
    victim, _ = stack.start_worker(**env), stack.start_worker(**env)
    stack.start_beat()
    stack.send()
    wait_until(lambda: sum(stack.server.accepted.values()) >= 150, 60, "150 pushes", *stack.alive())
    victim.send_signal(signal.SIGSTOP)  # a VM pause: the whole worker, pool and all
    time.sleep(16)  # past the lease: another attempt takes over; the thawed one stops at its first record
    victim.send_signal(signal.SIGCONT)
    took = stack.everyone_served(pushes, emails, 60)
    figures = stack.assert_pushed_once(pushes, in_flight=2)  # one per frozen pool process
    assert_exactly_once(stack.smtp.messages, emails, in_flight=2)
    print(f"\nfrozen 16 s mid-push: everyone served {took:.1f} s after the thaw; {figures}")
    assert not Delivery.objects.filter(status="failed").exists()
