"""The time zones and cadences a person may choose for their email."""

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
