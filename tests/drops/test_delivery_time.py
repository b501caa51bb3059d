"""Which hourly slot serves whom (musicdrops/drops/fanout.py), across time zones and DST changes."""

import datetime as dt
from typing import Any

import pytest

from musicdrops.accounts.zones import delivery_time, is_time_zone, period_of
from musicdrops.drops.fanout import due_windows
from musicdrops.drops.preview import next_delivery, serving_slot


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def served(time_zone: str, hour: int, day: dt.date) -> dt.datetime:
    return serving_slot(delivery_time(day=day, hour=hour, time_zone=time_zone))


@pytest.mark.parametrize(
    ("time_zone", "hour", "slot"),
    [
        ("UTC", 8, utc(2026, 12, 2, 8)),
        ("Europe/Berlin", 8, utc(2026, 12, 2, 7)),
        ("America/New_York", 8, utc(2026, 12, 2, 13)),
        ("Asia/Tokyo", 8, utc(2026, 12, 1, 23)),
        # Half and quarter hours: the slot at or after the delivery time, within the hour that starts there.
        ("Asia/Kolkata", 8, utc(2026, 12, 2, 3)),  # 02:30 UTC
        ("Asia/Kathmandu", 8, utc(2026, 12, 2, 3)),  # 02:15 UTC
        ("Australia/Lord_Howe", 8, utc(2026, 12, 1, 21)),  # +11 in December
        ("America/St_Johns", 8, utc(2026, 12, 2, 12)),  # 11:30 UTC
    ],
)
def test_each_zone_is_served_by_the_first_slot_at_or_after_its_delivery_time(time_zone, hour, slot):
    assert served(time_zone, hour, dt.date(2026, 12, 2)) == slot


def test_spring_forward_a_skipped_hour_is_served_in_the_next_hour():
    day = dt.date(2026, 3, 8)  # New York: 02:00 EST becomes 03:00 EDT
    assert served("America/New_York", 2, day) == utc(2026, 3, 8, 7)  # 03:00 EDT
    assert served("America/New_York", 3, day) == utc(2026, 3, 8, 7)
    assert due_windows(slot=utc(2026, 3, 8, 7), time_zones=["America/New_York"], catch_up_hours=1)[0].hours == (2, 3)
    # Lord Howe moves by 30 minutes: 02:00 becomes 02:30.
    assert served("Australia/Lord_Howe", 2, dt.date(2026, 10, 4)) == utc(2026, 10, 3, 16)  # 03:00 local


def test_fall_back_the_repeated_hour_is_served_once():
    day = dt.date(2026, 11, 1)  # New York: 01:00 happens twice
    first, second = utc(2026, 11, 1, 5), utc(2026, 11, 1, 6)  # 01:00 EDT, 01:00 EST
    assert served("America/New_York", 1, day) == first
    [window] = due_windows(slot=first, time_zones=["America/New_York"], catch_up_hours=1)
    assert (window.day, window.hours) == (day, (1,))
    assert due_windows(slot=second, time_zones=["America/New_York"], catch_up_hours=1) == []


def test_every_zone_and_hour_is_served_exactly_once_a_day_over_a_year():
    zones = ["UTC", "America/New_York", "Europe/London", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe"]
    served_days: dict[tuple[str, int], list[dt.date]] = {(z, h): [] for z in zones for h in range(24)}
    slot = utc(2026, 1, 1, 0)
    while slot < utc(2027, 1, 1, 0):
        for window in due_windows(slot=slot, time_zones=zones, catch_up_hours=1):
            for hour in window.hours:
                served_days[window.time_zone, hour].append(window.day)
        slot += dt.timedelta(hours=1)
    for key, days in served_days.items():
        assert len(days) == len(set(days)), f"{key} served twice on a day"
        inner = [d for d in days if dt.date(2026, 1, 2) <= d <= dt.date(2026, 12, 30)]
        assert len(inner) == 363, f"{key} missed a day"


def test_a_slot_catches_up_on_delivery_times_a_missed_slot_left_behind():
    windows = due_windows(slot=utc(2026, 12, 2, 10), time_zones=["UTC"], catch_up_hours=3)
    assert [(w.day, w.hours) for w in windows] == [(dt.date(2026, 12, 2), (8, 9, 10))]


def test_periods_are_the_local_date_or_the_iso_week():
    assert period_of(day=dt.date(2026, 12, 2), digest="daily") == "2026-12-02"
    assert period_of(day=dt.date(2026, 12, 2), digest="weekly") == "2026-W49"
    assert period_of(day=dt.date(2027, 1, 1), digest="weekly") == "2026-W53"  # ISO years differ from calendar ones


def test_the_next_delivery_is_today_until_its_slot_then_the_next_day_or_the_chosen_weekday():
    before, after = utc(2026, 12, 2, 7, 59), utc(2026, 12, 2, 8, 1)  # a Wednesday
    daily: dict[str, Any] = {"time_zone": "UTC", "hour": 8, "digest": "daily", "weekday": None}
    assert next_delivery(after=before, **daily) == (dt.date(2026, 12, 2), utc(2026, 12, 2, 8))
    assert next_delivery(after=after, **daily) == (dt.date(2026, 12, 2), utc(2026, 12, 2, 8))  # the slot runs now
    assert next_delivery(after=utc(2026, 12, 2, 9), **daily) == (dt.date(2026, 12, 3), utc(2026, 12, 3, 8))
    weekly = {**daily, "digest": "weekly", "weekday": 0}
    assert next_delivery(after=after, **weekly) == (dt.date(2026, 12, 7), utc(2026, 12, 7, 8))


def test_only_iana_names_are_time_zones():
    assert is_time_zone("Asia/Kathmandu")
    for name in ("", "Mars/Olympus_Mons", "../../etc/passwd", "localtime", "Europe/Berlin\x00"):
        assert not is_time_zone(name)
