"""Eight days of hourly slots, both DST changes of the year, seven time zones: one email per user per period.

A real worker-drops consumes the slots that ``send_music_drops --slot`` queues (called in this process, once per
hour of the simulated days, in order); a real SMTP server on loopback counts every email. What each user should
get is worked out here from the wall clock alone, independently of musicdrops/drops/fanout.py: a slot
serves a delivery time when it is the first hour on the hour whose local time has reached it.
"""

import collections
import datetime as dt
import io
import zoneinfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog.models import Artist, DatePrecision, Follow, ReleaseGroup
from musicdrops.drops.models import Delivery
from tests.integration.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ZONES = [
    "UTC",
    "America/New_York",  # DST: 8 March, 1 November
    "Europe/Berlin",  # DST: 29 March, 25 October
    "Asia/Kolkata",  # +5:30
    "Asia/Kathmandu",  # +5:45
    "America/St_Johns",  # -3:30 / -2:30, with the US dates
    "Australia/Lord_Howe",  # +10:30 / +11
]
WEEKLY_HOURS = [1, 2, 8, 23]
# UTC days on both sides of each change in the US and in Europe.
DAYS = [dt.date(2026, m, d) for m, d in [(3, 7), (3, 8), (3, 28), (3, 29), (10, 24), (10, 25), (10, 31), (11, 1)]]


def slots() -> list[dt.datetime]:
    return [dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC) for day in DAYS for hour in range(24)]


def wall(moment: dt.datetime, zone: str) -> dt.datetime:
    return moment.astimezone(zoneinfo.ZoneInfo(zone)).replace(tzinfo=None)


def expected_emails(users: list[User]) -> dict[tuple[str, dt.date], dt.datetime]:
    """(address, local date) -> the slot that should serve it: the first slot whose local time reached the hour."""
    expected = {}
    for slot in slots():
        for user in users:
            now, before = wall(slot, user.time_zone), wall(slot - dt.timedelta(hours=1), user.time_zone)
            for day in {now.date(), before.date()}:
                due = dt.datetime.combine(day, dt.time(user.delivery_hour))
                if before < due <= now and (user.digest == "daily" or day.weekday() == user.digest_weekday):
                    expected[user.email, day] = slot
    return expected


def seed() -> list[User]:
    users = [
        User(email=f"d{hour:02d}.{n}@example.com", time_zone=zone, delivery_hour=hour, email_verified_at=timezone.now())
        for n, zone in enumerate(ZONES)
        for hour in range(24)
    ] + [
        User(
            email=f"w{hour:02d}.{n}@example.com",
            time_zone=zone,
            delivery_hour=hour,
            digest="weekly",
            digest_weekday=(n + hour) % 7,
            email_verified_at=timezone.now(),
        )
        for n, zone in enumerate(ZONES)
        for hour in WEEKLY_HOURS
    ]
    User.objects.bulk_create(users)
    band = Artist.objects.create(mbid="00000000-0000-4000-8000-000000000001", name="Every Day")
    first = dt.date(2026, 2, 20)
    records = ReleaseGroup.objects.bulk_create(
        ReleaseGroup(
            mbid=f"10000000-0000-4000-8000-{n:012d}",
            title=f"Record of {first + dt.timedelta(days=n)}",
            kind="album",
            primary_type="Album",
            first_release_date=first + dt.timedelta(days=n),
            date_precision=DatePrecision.DAY,
        )
        for n in range(270)
    )
    band.release_groups.add(*records)
    Follow.objects.bulk_create(Follow(user=user, artist=band) for user in User.objects.all())
    return list(User.objects.all())


def test_eight_days_of_hourly_slots_across_dst_changes_send_one_email_per_user_per_period(start_process, smtp_server):
    users = seed()
    expected = expected_emails(users)
    # Each slot its own hour only, so that which slot served whom is checked too, not only how many.
    worker = start_process("worker-drops", EMAIL_URL=smtp_server.url, DROPS_CATCH_UP_HOURS="1")
    worker.wait_for("ready.")

    for slot in slots():
        call_command("send_music_drops", slot=f"{slot:%Y-%m-%dT%H:00Z}", stdout=io.StringIO())
    wait_until(lambda: len(smtp_server.messages) >= len(expected), 180, f"{len(expected)} emails", worker)
    wait_until(lambda: not Delivery.objects.filter(status="due").exists(), 30, "the ledger to settle", worker)

    got = collections.Counter(
        (str(m["To"]), dt.datetime.strptime(str(m["Subject"]).removeprefix("New music for "), "%B %d, %Y").date())
        for m in smtp_server.messages
    )
    repeats = sum(n - 1 for n in got.values())
    missing = set(expected) - set(got)
    unexpected = set(got) - set(expected)
    emails = len(smtp_server.messages)
    print(f"\n{len(slots())} slots, {len(users)} users in {len(ZONES)} zones: {emails} emails, {len(expected)} "
          f"expected, {repeats} repeats, {len(missing)} missing, {len(unexpected)} unexpected")  # fmt: skip
    assert repeats == 0
    assert missing == set()
    assert unexpected == set()
    served = {(email, day): slot for email, day, slot in Delivery.objects.values_list("user__email", "day", "slot")}
    assert served == expected, "each email went in the slot the wall clock says"
    # Each release at most once to each user, across daily and weekly emails alike.
    titles = collections.Counter(
        (str(m["To"]), line.strip().removeprefix("- "))
        for m in smtp_server.messages
        for line in m.get_body(("plain",)).get_content().splitlines()
        if line.strip().startswith("- Record of")
    )
    assert titles, "the emails list the records"
    assert max(titles.values()) == 1
    # The DST days themselves: New York's skipped 02:00 went with 03:00, its repeated 01:00 once.
    assert expected["d02.1@example.com", dt.date(2026, 3, 8)] == dt.datetime(2026, 3, 8, 7, tzinfo=dt.UTC)
    assert expected["d03.1@example.com", dt.date(2026, 3, 8)] == dt.datetime(2026, 3, 8, 7, tzinfo=dt.UTC)
    assert expected["d01.1@example.com", dt.date(2026, 11, 1)] == dt.datetime(2026, 11, 1, 5, tzinfo=dt.UTC)
