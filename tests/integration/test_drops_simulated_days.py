"""Eight days of hourly slots, both DST changes of the year, seven time zones: one email per user per period.

A real worker-drops consumes the slots that ``send_music_drops --slot`` queues (called in this process, once per
hour of the simulated days, in order); a real SMTP server on loopback counts every email. What each user should
get is worked out here from the wall clock alone, independently of musicdrops/drops/fanout.py: a slot
serves a delivery time when it is the first hour on the hour whose local time has reached it.

Some fans also asked for announcements (upcoming releases newly found), some for announcements only: each
release is announced at most once and released at most once to each of them, daily and weekly alike.
"""

import collections
import datetime as dt
import io
import zoneinfo
from email.message import EmailMessage

import icalendar
import pytest
from django.core.management import call_command
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog.models import Artist, DatePrecision, Follow, ReleaseGroup, ReleasePreferences
from musicdrops.drops.models import Delivery
from tests.feeds.test_feeds import assert_strict_rfc5545
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


# Found on the first day of each pair; A and B come out long after, C the next day, M "in November".
FOUND_MARCH = dt.datetime(2026, 3, 7, 6, tzinfo=dt.UTC)
FOUND_OCTOBER = dt.datetime(2026, 10, 24, 6, tzinfo=dt.UTC)
UPCOMING = [
    ("Soon A", dt.date(2027, 1, 15), DatePrecision.DAY, FOUND_MARCH),
    ("Soon C", dt.date(2026, 3, 8), DatePrecision.DAY, FOUND_MARCH),
    ("Soon B", dt.date(2027, 1, 15), DatePrecision.DAY, FOUND_OCTOBER),
    ("Soon M", dt.date(2026, 11, 1), DatePrecision.MONTH, FOUND_OCTOBER),
]


def asks_for_announcements(user: User) -> bool:
    return user.email.startswith("a") or user.delivery_hour % 4 == 0


def seed() -> list[User]:
    users = (
        [
            User(
                email=f"d{hour:02d}.{n}@example.com",
                time_zone=zone,
                delivery_hour=hour,
                email_verified_at=timezone.now(),
            )
            for n, zone in enumerate(ZONES)
            for hour in range(24)
        ]
        + [
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
        + [
            User(
                email=f"a{hour:02d}.{n}@example.com",
                time_zone=zone,
                delivery_hour=hour,
                email_verified_at=timezone.now(),
            )
            for n, zone in enumerate(ZONES)
            for hour in (3, 13, 22)
        ]
    )
    User.objects.bulk_create(users)
    ReleasePreferences.objects.bulk_create(
        ReleasePreferences(user=user, when_announced=True, on_release_day=not user.email.startswith("a"))
        for user in User.objects.all()
        if asks_for_announcements(user)
    )
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
    soon = ReleaseGroup.objects.bulk_create(
        ReleaseGroup(
            mbid=f"20000000-0000-4000-8000-{n:012d}",
            title=title,
            kind="album",
            primary_type="Album",
            first_release_date=day,
            date_precision=precision,
            first_seen_at=found,
        )
        for n, (title, day, precision, found) in enumerate(UPCOMING)
    )
    band.release_groups.add(*records, *soon)
    Follow.objects.bulk_create(Follow(user=user, artist=band) for user in User.objects.all())
    return list(User.objects.all())


def test_eight_days_of_hourly_slots_across_dst_changes_send_one_email_per_user_per_period(start_process, smtp_server):
    users = seed()
    # Fans of announcements only get an email when there is one: their count is checked below, not here.
    expected = expected_emails([u for u in users if not u.email.startswith("a")])
    # Each slot its own hour only, so that which slot served whom is checked too, not only how many.
    worker = start_process("worker-drops", EMAIL_URL=smtp_server.url, DROPS_CATCH_UP_HOURS="1")
    worker.wait_for("ready.")

    for slot in slots():
        call_command("send_music_drops", slot=f"{slot:%Y-%m-%dT%H:00Z}", stdout=io.StringIO())
    wait_until(lambda: len(smtp_server.messages) >= len(expected), 180, f"{len(expected)} emails", worker)
    wait_until(lambda: not Delivery.objects.filter(status="due").exists(), 30, "the ledger to settle", worker)

    announced_only = [m for m in smtp_server.messages if str(m["To"]).startswith("a")]
    check_announcements(users, smtp_server.messages, expected_emails(users))
    got = collections.Counter(
        (str(m["To"]), dt.datetime.strptime(str(m["Subject"]).removeprefix("New music for "), "%B %d, %Y").date())
        for m in smtp_server.messages
        if m not in announced_only
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
    served = {
        (email, day): slot
        for email, day, slot in Delivery.objects.exclude(user__email__startswith="a").values_list(
            "user__email", "day", "slot"
        )
    }
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


def sections(message: EmailMessage) -> tuple[list[str], list[str]]:
    """The release titles of an email: (released, announced), from its plain text."""
    plain = message.get_body(("plain",))
    assert plain is not None
    text = plain.get_content()
    released, _, announced = text.partition("\nAnnounced:")
    titles = [[line.strip().removeprefix("- ").split(" (")[0] for line in part.splitlines()
               if line.startswith("  - ")] for part in (released, announced)]  # fmt: skip
    return titles[0], titles[1]


def check_announcements(
    users: list[User], messages: list[EmailMessage], schedule: dict[tuple[str, dt.date], dt.datetime]
) -> None:
    """Announced at most once and released at most once to each fan, and exactly once where the wall clock says."""
    announced: collections.Counter[tuple[str, str]] = collections.Counter()
    released: collections.Counter[tuple[str, str]] = collections.Counter()
    told: dict[tuple[str, str], dt.date] = {}
    for message in messages:
        to, day = str(message["To"]), dt.datetime.strptime(str(message["Subject"])[14:], "%B %d, %Y").date()
        now_out, soon = sections(message)
        released.update((to, title) for title in now_out)
        announced.update((to, title) for title in soon)
        told |= {(to, title): day for title in soon}
        calendars = [part for part in message.iter_attachments() if part.get_content_type() == "text/calendar"]
        assert len(calendars) == (1 if soon else 0), to
        if soon:
            body = calendars[0].get_payload(decode=True)
            assert isinstance(body, bytes)
            assert_strict_rfc5545(body)
            events = icalendar.Calendar.from_ical(body.decode()).walk("VEVENT")
            assert sorted(str(e["SUMMARY"]).split(", by")[0] for e in events) == sorted(soon)
        if to.startswith("a"):
            assert soon, "announcements only: an email only to announce"
            assert not now_out, "announcements only: never a release on its day"
        if "Soon C" in now_out and (to, "Soon C") in told:
            assert told[to, "Soon C"] < day, "announced before it came out"
    assert announced
    assert max(announced.values()) == 1
    assert max(released.values()) == 1
    # The wall clock's answer: within the look-back (7 days, 14 for a weekly digest) of its finding or its date.
    days = collections.defaultdict(list)
    for email, day in schedule:
        days[email].append(day)
    for user in users:
        back = 14 if user.digest == "weekly" else 7
        asked, on_its_day = asks_for_announcements(user), not user.email.startswith("a")

        def emailed(first: dt.date, last: dt.date, email: str = user.email) -> int:
            return int(any(first <= day <= last for day in days[email]))

        for title, date, precision, found in UPCOMING:
            # Upcoming: its (first possible) day after the email's; found on a UTC date within the look-back.
            until = min(found.date() + dt.timedelta(days=back - 1), date - dt.timedelta(days=1))
            assert announced[user.email, title] == (emailed(found.date(), until) if asked else 0), (user.email, title)
            if precision == DatePrecision.DAY and on_its_day:
                out = emailed(date, date + dt.timedelta(days=back - 1))
                assert released[user.email, title] == out, (user.email, title)
    print(f"announcements: {sum(announced.values())} announced, {sum(released.values())} released lines")
