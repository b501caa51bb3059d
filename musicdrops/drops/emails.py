"""The daily email: "New music for <Month D, YYYY>", grouped by artist."""

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.template.loader import get_template
from django.urls import reverse
from django.utils.html import escape

from musicdrops.lib.fastmail import PrebuiltEmail

_UNSUBSCRIBE_SALT = "musicdrops.drops.unsubscribe"


@dataclass(frozen=True)
class DropRelease:
    title: str
    artists: str  # display names of the artists it is credited to, joined
    kind: str  # "Album", "EP", ...
    date: str  # as precise as we know it
    musicbrainz_url: str


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
    return settings.SITE_URL + reverse("drops:unsubscribe", args=[unsubscribe_token(user_id)])


def message_id(user_id: int, day: dt.date) -> str:
    """The same for every attempt at one (user, day): a receiving system that saw it already can drop a repeat."""
    domain = urlsplit(settings.SITE_URL).hostname or "musicdrops.local"
    digest = hmac.new(settings.SECRET_KEY.encode(), f"drop:{user_id}:{day}".encode(), hashlib.sha256).hexdigest()[:16]
    return f"<drop.{day:%Y%m%d}.{user_id}.{digest}@{domain}>"


def group_by_artist(releases: list[DropRelease]) -> list[tuple[str, list[DropRelease]]]:
    groups: dict[str, list[DropRelease]] = {}
    for release in releases:
        groups.setdefault(release.artists, []).append(release)
    return sorted(groups.items(), key=lambda item: item[0].casefold())


class DropRenderer:
    """Renders the drops of many users for one day.

    Everyone who follows an artist gets the same block for that artist, and
    everyone gets the same frame around the blocks: each is rendered once
    (by the templates, which escape what they insert), and a user's email is
    then put together from them.
    """

    _GROUPS = "MUSICDROPSGROUPSGOHERE"
    _UNSUBSCRIBE = "MUSICDROPSUNSUBSCRIBEURLGOESHERE"

    def __init__(self, *, day: dt.date) -> None:
        self.day = day
        self.subject = subject_for(day)
        context = {
            "day": day,
            "subject": self.subject,
            "site_url": settings.SITE_URL,
            "settings_url": settings.SITE_URL + reverse("catalog:preferences"),
            "groups": self._GROUPS,
            "unsubscribe_url": self._UNSUBSCRIBE,
        }
        self._frame_text = get_template("emails/drop.txt").render(context)
        self._frame_html = get_template("emails/drop.html").render(context)
        self._group_text = get_template("emails/drop_group.txt")
        self._group_html = get_template("emails/drop_group.html")
        self._groups: dict[tuple[str, tuple[DropRelease, ...]], tuple[str, str]] = {}

    def _group(self, artist: str, releases: list[DropRelease]) -> tuple[str, str]:
        key = (artist, tuple(releases))
        block = self._groups.get(key)
        if block is None:
            context = {"artist": artist, "releases": releases}
            block = self._groups[key] = (self._group_text.render(context), self._group_html.render(context))
        return block

    def render(
        self, *, user_id: int, releases: list[DropRelease], unsubscribe: str | None = None
    ) -> tuple[str, str, str]:
        """Subject, plain text and HTML of one user's drop."""
        blocks = [self._group(artist, items) for artist, items in group_by_artist(releases)]
        url = unsubscribe or unsubscribe_url(user_id)
        text = self._frame_text.replace(self._GROUPS, "".join(t for t, _ in blocks)).replace(self._UNSUBSCRIBE, url)
        html = self._frame_html.replace(self._GROUPS, "".join(h for _, h in blocks)).replace(
            self._UNSUBSCRIBE, escape(url)
        )
        return self.subject, text, html

    def build(self, *, user_id: int, email: str, releases: list[DropRelease]) -> PrebuiltEmail:
        unsubscribe = unsubscribe_url(user_id)
        subject, text, html = self.render(user_id=user_id, releases=releases, unsubscribe=unsubscribe)
        return PrebuiltEmail(
            subject=subject,
            text=text,
            html=html,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=email,
            headers={
                "Message-ID": message_id(user_id, self.day),
                # RFC 8058 one-click unsubscribe: Gmail and Yahoo require both headers from bulk senders.
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "Auto-Submitted": "auto-generated",
            },
        )


def render(*, user_id: int, day: dt.date, releases: list[DropRelease]) -> tuple[str, str, str]:
    """One user's drop (the daily send renders many at once with DropRenderer)."""
    return DropRenderer(day=day).render(user_id=user_id, releases=releases)
