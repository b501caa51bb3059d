"""The daily email: "New music for <Month D, YYYY>", grouped by artist."""

import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
import re
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.template.loader import get_template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from musicdrops.catalog import ical
from musicdrops.catalog.models import DatePrecision
from musicdrops.catalog.text import clean_text
from musicdrops.drops.mailer import Email

_UNSUBSCRIBE_SALT = "musicdrops.drops.unsubscribe"


@dataclass(frozen=True)
class DropRelease:
    title: str
    artists: str
    kind: str
    date: str
    url: str
    artist_key: str = ""  # the artists' ids: two artists can share a name
    artists_full: str = ""  # with MusicBrainz's disambiguation, to tell such artists apart
    credits: tuple[tuple[str, str, str], ...] = ()  # (name, name with disambiguation, page) per artist
    cover_url: str = ""
    mbid: str = ""  # the calendar's UIDs
    day: dt.date | None = None  # the first day the date can mean, and how precise it is: the calendar's dates
    precision: str = DatePrecision.DAY


def subject_for(day: dt.date) -> str:
    return f"New music for {day:%B} {day.day}, {day.year}"


def unsubscribe_token(user_id: int) -> str:
    # Never expires: an old email's link must still work (RFC 8058 and common sense).
    return signing.Signer(salt=_UNSUBSCRIBE_SALT).sign(str(user_id))


def read_unsubscribe_token(token: str) -> int | None:
    try:
        return int(signing.Signer(salt=_UNSUBSCRIBE_SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        return None


def unsubscribe_url(user_id: int) -> str:
    return unsubscribe_url_for_token(unsubscribe_token(user_id))


def unsubscribe_url_around() -> tuple[str, str]:
    """What comes before and after the token in every unsubscribe URL (``reverse`` leaves a token as it is)."""
    placeholder = "0:TOKEN"
    before, after = unsubscribe_url_for_token(placeholder).split(placeholder)
    return before, after


def unsubscribe_url_for_token(token: str) -> str:
    return settings.SITE_URL + reverse("drops:unsubscribe", args=[token])


@functools.cache
def _message_id_domain(site_url: str) -> str:
    return urlsplit(site_url).hostname or "musicdrops.local"


def message_id(user_id: int, period: str) -> str:
    """The same for every attempt at one (user, period): a receiving system that saw it already can drop a repeat."""
    digest = hmac.digest(settings.SECRET_KEY.encode(), f"drop:{user_id}:{period}".encode(), hashlib.sha256).hex()[:16]
    return f"<drop.{period.replace('-', '')}.{user_id}.{digest}@{_message_id_domain(settings.SITE_URL)}>"


def group_by_artist(releases: list[DropRelease]) -> list[tuple[str, list[DropRelease]]]:
    """Releases under a heading per artist, in name order; artists who share a name get their disambiguation."""
    groups: dict[str, list[DropRelease]] = {}
    for release in releases:
        groups.setdefault(release.artist_key or release.artists, []).append(release)
    names = Counter(items[0].artists for items in groups.values())
    headed = [
        (items[0].artists_full or items[0].artists if names[items[0].artists] > 1 else items[0].artists, items)
        for items in groups.values()
    ]
    return sorted(headed, key=lambda item: item[0].casefold())


@functools.lru_cache(maxsize=4096)
def _group_blocks(artist: str, releases: tuple[DropRelease, ...]) -> tuple[str, str]:
    """An artist's block, text and HTML: the same for every follower, so cached per process (docs/performance.md)."""
    # Stored text is clean at the border; this keeps an email valid for a row stored before that.
    shown = [dataclasses.replace(r, title=clean_text(r.title), artists=clean_text(r.artists)) for r in releases]
    full = bool(releases) and artist != releases[0].artists
    links = [(clean_text(f if full else n), url) for n, f, url in releases[0].credits] if releases else []
    context = {"artist": clean_text(artist), "links": links, "releases": shown}
    return get_template("emails/drop_group.txt").render(context), get_template("emails/drop_group.html").render(context)


CALENDAR_FILE = "upcoming-releases.ics"


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


@functools.lru_cache(maxsize=4096)
def calendar_event(release: DropRelease) -> ical.Event | None:
    """An upcoming release as an all-day event on its date; known only to the month or year, across all of it."""
    if release.day is None:
        return None
    end = {
        DatePrecision.MONTH: _next_month(release.day),
        DatePrecision.YEAR: dt.date(release.day.year + 1, 1, 1),
    }.get(DatePrecision(release.precision))
    when = f" (out {release.date})" if end else ""
    return ical.Event(
        uid=f"{release.mbid}@{_message_id_domain(settings.SITE_URL)}",  # the private feed's: one event in a calendar
        day=release.day,
        end=end,
        summary=f"{release.title}, by {release.artists}{when}",
        description=f"{release.kind} by {release.artists}. {release.url}",
        url=release.url,
    )


def upcoming_calendar(releases: list[DropRelease], *, stamp: dt.datetime) -> str:
    events = [event for release in releases if (event := calendar_event(release)) is not None]
    return ical.calendar(name="MusicDrops: announced releases", events=events, stamp=stamp)


class DropRenderer:
    """Renders the drops of many users for one day: the frame once, then each email put together from it and blocks."""

    _GROUPS = "MUSICDROPSGROUPSGOHERE"
    _ANNOUNCED = "MUSICDROPSANNOUNCEDGOHERE"
    _UNSUBSCRIBE = "MUSICDROPSUNSUBSCRIBEURLGOESHERE"
    _SLOTS = re.compile(f"({_GROUPS}|{_ANNOUNCED}|{_UNSUBSCRIBE})")

    def __init__(self, *, day: dt.date, stamp: dt.datetime | None = None) -> None:
        """``stamp``: when the emails were made (the calendar's DTSTAMP); the slot, so every attempt writes the same."""
        self.day = day
        self.subject = subject_for(day)
        self.stamp = stamp or timezone.now()
        context = {
            "day": day,
            "subject": self.subject,
            "site_url": settings.SITE_URL,
            "settings_url": settings.SITE_URL + reverse("catalog:preferences"),
            "groups": self._GROUPS,
            "announced": self._ANNOUNCED,
            "unsubscribe_url": self._UNSUBSCRIBE,
        }
        # Split before anyone's text is in it: a release titled like a placeholder stays a title.
        self._frame_text = self._SLOTS.split(get_template("emails/drop.txt").render(context))
        self._frame_html = self._SLOTS.split(get_template("emails/drop.html").render(context))
        self._announced_text = get_template("emails/drop_announced.txt").render({})
        self._announced_html = get_template("emails/drop_announced.html").render({})
        self._unsubscribe_around = unsubscribe_url_around()

    @staticmethod
    def _group(artist: str, releases: list[DropRelease]) -> tuple[str, str]:
        return _group_blocks(artist, tuple(releases))

    @staticmethod
    def _fill(frame: list[str], values: dict[str, str]) -> str:
        # split() with a group alternates text and slot names: text, slot, text, ..., text.
        return "".join(values[piece] if n % 2 else piece for n, piece in enumerate(frame))

    def render(
        self,
        *,
        user_id: int,
        releases: list[DropRelease],
        unsubscribe: str | None = None,
        announced: list[DropRelease] | None = None,
    ) -> tuple[str, str, str]:
        """Subject, plain text and HTML of one user's drop: the new releases, then the announced ones (if any)."""
        blocks = [self._group(artist, items) for artist, items in group_by_artist(releases)]
        later = [self._group(artist, items) for artist, items in group_by_artist(announced or [])]
        url = unsubscribe or unsubscribe_url(user_id)
        text = self._fill(self._frame_text, {
            self._GROUPS: "".join(t for t, _ in blocks),
            self._ANNOUNCED: self._announced_text + "".join(t for t, _ in later) if later else "",
            self._UNSUBSCRIBE: url,
        })  # fmt: skip
        html = self._fill(self._frame_html, {
            self._GROUPS: "".join(h for _, h in blocks),
            self._ANNOUNCED: self._announced_html + "".join(h for _, h in later) if later else "",
            self._UNSUBSCRIBE: escape(url),
        })  # fmt: skip
        return self.subject, text, html

    def build(
        self,
        *,
        user_id: int,
        email: str,
        releases: list[DropRelease],
        message_id_: str | None = None,
        announced: list[DropRelease] | None = None,
    ) -> Email:
        """``message_id_``: the one the ledger stored for this (user, day), so every attempt sends the same.

        With announced releases, they come as a calendar too (one event each, text/calendar).
        """
        before, after = self._unsubscribe_around
        unsubscribe = before + unsubscribe_token(user_id) + after
        subject, text, html = self.render(
            user_id=user_id, releases=releases, unsubscribe=unsubscribe, announced=announced
        )
        attachments = (
            ((CALENDAR_FILE, upcoming_calendar(announced, stamp=self.stamp), "text/calendar"),) if announced else ()
        )
        return Email(
            subject=subject,
            text=text,
            html=html,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=email,
            headers={
                "Message-ID": message_id_ or message_id(user_id, self.day.isoformat()),
                # RFC 8058 one-click unsubscribe: Gmail and Yahoo require both headers from bulk senders.
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "Auto-Submitted": "auto-generated",
            },
            attachments=attachments,
        )


def render(
    *, user_id: int, day: dt.date, releases: list[DropRelease], announced: list[DropRelease] | None = None
) -> tuple[str, str, str]:
    return DropRenderer(day=day).render(user_id=user_id, releases=releases, announced=announced)
