"""What every exactly-once drill shares: short clocks, the seed, and the count of who got what."""

import collections
import datetime as dt
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.accounts.zones import delivery_time
from musicdrops.drops.models import Delivery
from musicdrops.drops.preview import serving_slot
from musicdrops.ops.demo import demo_seed
from tests.integration.processes import Process, wait_until

NOWHERE = "http://127.0.0.1:9/ws/2"  # MusicBrainz: refuse at once, the catalog sync is not under test here

# The send's clocks, short (settings.py, DROPS_*): a chunk sends for 4 s, a claim lasts 8 s, the sweep
# looks every 2 s, a user due for 6 s is overdue. Production's are minutes; the logic is the same.
DRILL_ENV = {
    "MUSICBRAINZ_URL": NOWHERE,
    "DROPS_CHUNK_SECONDS": "4",
    "DROPS_LEASE_SECONDS": "8",
    "DROPS_PICKUP_SECONDS": "8",
    "DROPS_SWEEP_SECONDS": "2",
    "DROPS_OVERDUE_SECONDS": "6",
    "DROPS_RETRY_BACKOFF_MAX": "2",
}


def seed(users: int, *, one_slot: bool = False) -> int:
    """``users`` listeners plus the demo login, each with a release today; returns how many emails are due.

    The listeners are spread over demo_seed's time zones (``one_slot``: all in UTC), and every third one
    takes a weekly digest on the weekday that today's UTC slots serve them, so that the drills prove the
    weekly promise too.
    """
    demo_seed(
        users=users, demo_email_address="demo@example.com", demo_password="pw-demo-1234", today=timezone.localdate()
    )
    if one_slot:  # everyone at 08:00 UTC: one slot, and chunks as big as CHUNK_SIZE allows
        User.objects.update(time_zone="UTC")
    make_some_weekly()
    return users + 1


def make_some_weekly(every: int = 3) -> int:
    """Every ``every``-th listener a weekly reader, on the weekday of their email in today's UTC slots."""
    today = dt.datetime.now(dt.UTC).date()
    changed = 0
    for zone_name in set(User.objects.values_list("time_zone", flat=True)):
        ids = list(User.objects.filter(time_zone=zone_name).order_by("pk").values_list("pk", "delivery_hour"))
        for pk, hour in ids[::every]:
            local = next(
                day
                for day in (today - dt.timedelta(days=1), today, today + dt.timedelta(days=1))
                if serving_slot(delivery_time(day=day, hour=hour, time_zone=zone_name)).date() == today
            )
            changed += User.objects.filter(pk=pk).update(digest="weekly", digest_weekday=local.weekday())
    return changed


def start_send(start_process: Callable[..., Process], **env: str) -> None:
    """Queue today's send as an operator (or the beat) would, and wait for the command to finish."""
    command = start_process("release", command="python manage.py send_music_drops", **env)
    assert command.popen.wait(60) == 0, command.output()


def recipients(messages: list[EmailMessage]) -> collections.Counter[str]:
    return collections.Counter(str(m["To"]) for m in messages)


def assert_exactly_once(messages: list[EmailMessage], expected: int, *, in_flight: int = 0) -> dict[str, Any]:
    """Everyone got the email; the only repeats are up to ``in_flight`` messages, each with one Message-ID."""
    counts = recipients(messages)
    repeats = len(messages) - len(counts)
    message_ids: dict[str, set[str]] = collections.defaultdict(set)
    for message in messages:
        message_ids[str(message["To"])].add(str(message["Message-ID"]))
    figures = {"emails": len(messages), "users": len(counts), "repeats": repeats, "expected": expected}
    print(f"drill: {figures}")
    assert len(counts) == expected, f"{expected - len(counts)} users never got the email: {figures}"
    assert repeats <= in_flight, f"{repeats} repeats, at most {in_flight} allowed (in flight): {figures}"
    assert all(len(ids) == 1 for ids in message_ids.values()), "a repeat with another Message-ID"
    return figures


def wait_for_everyone(count: Callable[[], int], expected: int, timeout: float, *watch: Process) -> float:
    """Wait until ``count()`` reaches ``expected``; return how long it took."""
    started = time.monotonic()
    wait_until(lambda: count() >= expected, timeout, f"{expected} emails", *watch)
    return time.monotonic() - started


def ledger_settled(expected: int) -> bool:
    return (
        Delivery.objects.filter(status="sent").count() == expected
        and not Delivery.objects.exclude(status="sent").exists()
    )
