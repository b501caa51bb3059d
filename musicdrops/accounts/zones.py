"""The time zones and cadences a person may choose for their email, and when their chosen hour falls."""

import datetime as dt
import functools
import zoneinfo

DAILY = "daily"
WEEKLY = "weekly"


@functools.cache
def time_zone_names() -> frozenset[str]:
    """Every IANA zone name this machine knows, without aliases like "localtime" (whatever the server is set to)."""
    return frozenset(zoneinfo.available_timezones() - {"localtime", "posixrules", "Factory"})


def is_time_zone(name: str) -> bool:
    return name in time_zone_names()


@functools.cache
def zone(name: str) -> dt.tzinfo:
    return zoneinfo.ZoneInfo(name) if is_time_zone(name) else dt.UTC


def delivery_time(*, day: dt.date, hour: int, time_zone: str) -> dt.datetime:
    """``day`` at ``hour`` in ``time_zone``, in UTC; a skipped hour reads with the offset before the change."""
    return dt.datetime.combine(day, dt.time(hour), tzinfo=zone(time_zone)).astimezone(dt.UTC)


def period_of(*, day: dt.date, digest: str) -> str:
    if digest == WEEKLY:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.isoformat()
