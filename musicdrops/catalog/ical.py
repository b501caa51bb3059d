"""A minimal iCalendar (RFC 5545) writer: all-day events, one per release (the private feed, the email's .ics)."""

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass

from musicdrops.catalog.text import clean_text


@dataclass(frozen=True)
class Event:
    uid: str
    day: dt.date
    summary: str
    description: str
    url: str
    end: dt.date | None = None  # the day after the last (exclusive, RFC 5545 3.6.1); None: one day


def _escape(text: str) -> str:
    # RFC 5545 3.3.11: backslash, semicolon and comma are escaped; newlines become "\n";
    # no other control character may appear in a value at all (3.1, VALUE-CHAR).
    text = clean_text(text).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return text.replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 3.1)."""
    data = line.encode()
    if len(data) <= 75:
        return line
    parts, start, limit = [], 0, 75
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # never split a UTF-8 character
            end -= 1
        parts.append(data[start:end].decode())
        start, limit = end, 74  # continuation lines start with a space
    return "\r\n ".join(parts)


def _lines(lines: list[str]) -> str:
    return "".join(_fold(line) + "\r\n" for line in lines)


def dtstamp(stamp: dt.datetime) -> str:
    return stamp.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


@functools.lru_cache(maxsize=4096)
def vevent(event: Event, stamp: str) -> str:
    """One event, written and folded: the same for every fan who gets it, so cached per process (the email's .ics)."""
    return _lines(
        [
            "BEGIN:VEVENT",
            f"UID:{event.uid}",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{event.day:%Y%m%d}",
            f"DTEND;VALUE=DATE:{event.end or event.day + dt.timedelta(days=1):%Y%m%d}",
            f"SUMMARY:{_escape(event.summary)}",
            f"DESCRIPTION:{_escape(event.description)}",
            f"URL:{event.url}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    )


@functools.lru_cache(maxsize=16)
def _head(name: str) -> str:
    return _lines(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//MusicDrops//Releases//EN",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            f"X-WR-CALNAME:{_escape(name)}",
        ]
    )


def calendar(*, name: str, events: Iterable[Event], stamp: dt.datetime) -> str:
    """The calendar as text with CRLF line ends, ready to serve or attach."""
    at = dtstamp(stamp)
    return _head(name) + "".join(vevent(event, at) for event in events) + "END:VCALENDAR\r\n"
