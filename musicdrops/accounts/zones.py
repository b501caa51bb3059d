"""The time zones and cadences a person may choose for their email, and when their chosen hour falls."""

import datetime as dt
import functools
import zoneinfo
from pathlib import Path

DAILY = "daily"
WEEKLY = "weekly"

# The IANA regions a place's zone is named under; the rest (US/Pacific, Etc/GMT+5, ...) are old aliases.
REGIONS = ("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")


@functools.cache
def time_zone_names() -> frozenset[str]:
    """Every IANA zone name this machine knows, without aliases like "localtime" (whatever the server is set to)."""
    return frozenset(zoneinfo.available_timezones() - {"localtime", "posixrules", "Factory"})


def is_time_zone(name: str) -> bool:
    return name in time_zone_names()


@functools.cache
def zone(name: str) -> dt.tzinfo:
    return zoneinfo.ZoneInfo(name) if is_time_zone(name) else dt.UTC


@functools.cache
def canonical_time_zones() -> tuple[str, ...]:
    """The zones worth offering: tzdata's zone.tab (a zone per place, no backward-compatibility links), and UTC.

    Where the system has no zone.tab (the tzdata package ships none), every name under a region instead.
    """
    for directory in zoneinfo.TZPATH:
        table = Path(directory) / "zone.tab"
        if table.is_file():
            lines = table.read_text(encoding="utf-8").splitlines()
            names = {line.split("\t")[2] for line in lines if line and not line.startswith("#")}
            break
    else:
        names = {name for name in time_zone_names() if name.partition("/")[0] in REGIONS}
    return ("UTC", *sorted(names & time_zone_names()))


Choices = list[tuple[str, str | list[tuple[str, str]]]]


def time_zone_choices(*, current: str = "") -> Choices:
    """UTC, then each region's zones labelled by place; ``current`` (a user's old alias) kept at the top."""
    names = canonical_time_zones()
    choices: Choices = [(current, current.replace("_", " "))] if current and current not in names else []
    choices.append(("UTC", "UTC"))
    for region in REGIONS:
        places = [
            (name, name.partition("/")[2].replace("_", " ").replace("/", " / "))
            for name in names
            if name.partition("/")[0] == region
        ]
        if places:
            choices.append((region, places))
    return choices


def cadence_name(digest: str) -> str:
    """The email's name for a reader: "weekly" or "daily"."""
    return "weekly" if digest == WEEKLY else "daily"


def delivery_time(*, day: dt.date, hour: int, time_zone: str) -> dt.datetime:
    """``day`` at ``hour`` in ``time_zone``, in UTC; a skipped hour reads with the offset before the change."""
    return dt.datetime.combine(day, dt.time(hour), tzinfo=zone(time_zone)).astimezone(dt.UTC)


def period_of(*, day: dt.date, digest: str) -> str:
    if digest == WEEKLY:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.isoformat()
