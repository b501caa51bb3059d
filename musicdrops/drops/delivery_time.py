"""When each user's email goes out: their hour in their own zone, served by hourly slots (docs/delivery-times.md)."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from musicdrops.accounts.zones import WEEKLY, zone

HOUR = dt.timedelta(hours=1)


def slot_of(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def slot_label(slot: dt.datetime) -> str:
    return f"{slot.astimezone(dt.UTC):%Y-%m-%dT%H:00Z}"


def serving_slot(instant: dt.datetime) -> dt.datetime:
    """The slot that serves a delivery time: the first hour on the hour at or after it."""
    floor = slot_of(instant)
    return floor if floor == instant else floor + HOUR


def delivery_time(*, day: dt.date, hour: int, time_zone: str) -> dt.datetime:
    """``day`` at ``hour`` in ``time_zone``, in UTC; a skipped hour reads with the offset before the change."""
    return dt.datetime.combine(day, dt.time(hour), tzinfo=zone(time_zone)).astimezone(dt.UTC)


def period_of(*, day: dt.date, digest: str) -> str:
    if digest == WEEKLY:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.isoformat()


@dataclass(frozen=True)
class Window:
    """Users of ``time_zone`` whose delivery hour is one of ``hours`` are due their email of ``day``."""

    time_zone: str
    day: dt.date
    hours: tuple[int, ...]


def due_windows(*, slot: dt.datetime, time_zones: Iterable[str], catch_up_hours: int) -> list[Window]:
    """For each zone, the (local date, delivery hours) with a delivery time in (slot - catch_up_hours, slot].

    Where an hour falls in the window on two local dates (a DST change in a day-long window), the later wins.
    """
    earliest = slot - dt.timedelta(hours=max(1, catch_up_hours))
    windows = []
    for name in sorted(set(time_zones)):
        tz = zone(name)
        first, last = earliest.astimezone(tz).date(), slot.astimezone(tz).date()
        by_hour: dict[int, dt.date] = {}
        day = first
        while day <= last:
            for hour in range(24):
                if earliest < delivery_time(day=day, hour=hour, time_zone=name) <= slot:
                    by_hour[hour] = day
            day += dt.timedelta(days=1)
        by_day: dict[dt.date, list[int]] = {}
        for hour, day in sorted(by_hour.items()):
            by_day.setdefault(day, []).append(hour)
        windows += [Window(name, day, tuple(hours)) for day, hours in sorted(by_day.items())]
    return windows


def next_delivery(
    *, after: dt.datetime, time_zone: str, hour: int, digest: str, weekday: int | None
) -> tuple[dt.date, dt.datetime]:
    """The next local date whose email this user is due, and the slot that sends it, at or after ``after``."""
    day = after.astimezone(zone(time_zone)).date() - dt.timedelta(days=1)
    for _ in range(16):
        if digest != WEEKLY or day.weekday() == weekday:
            slot = serving_slot(delivery_time(day=day, hour=hour, time_zone=time_zone))
            if slot >= slot_of(after):
                return day, slot
        day += dt.timedelta(days=1)
    raise ValueError(f"no delivery within two weeks of {after}")
