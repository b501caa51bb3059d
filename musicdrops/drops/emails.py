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


def render(*, user_id: int, day: dt.date, releases: list[DropRelease]) -> tuple[str, str, str]:
    """Subject, plain text and HTML of one user's drop."""
    subject = subject_for(day)
    context = {
        "day": day,
        "subject": subject,
        "groups": group_by_artist(releases),
        "count": len(releases),
        "site_url": settings.SITE_URL,
        "unsubscribe_url": unsubscribe_url(user_id),
        "settings_url": settings.SITE_URL + reverse("catalog:preferences"),
    }
    return (
        subject,
        get_template("emails/drop.txt").render(context),
        get_template("emails/drop.html").render(context),
    )


def build(*, user_id: int, email: str, day: dt.date, releases: list[DropRelease]) -> PrebuiltEmail:
    subject, text, html = render(user_id=user_id, day=day, releases=releases)
    return PrebuiltEmail(
        subject=subject,
        text=text,
        html=html,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=email,
        headers={
            "Message-ID": message_id(user_id, day),
            # RFC 8058 one-click unsubscribe: Gmail and Yahoo require both headers from bulk senders.
            "List-Unsubscribe": f"<{unsubscribe_url(user_id)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )
