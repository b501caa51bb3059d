"""Private feeds: anyone holding the token URL can read them, so they show releases only, never the address."""

import datetime as dt
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.syndication.views import Feed
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from django.views.decorators.http import require_GET, require_POST

from musicdrops.accounts.decorators import login_required
from musicdrops.accounts.models import User
from musicdrops.catalog import ical, selectors
from musicdrops.catalog import services as catalog_services
from musicdrops.catalog.forms import KIND_LABELS
from musicdrops.catalog.models import DatePrecision, ReleaseGroup
from musicdrops.catalog.text import clean_text
from musicdrops.feeds import services

FEED_ITEMS = 100
TITLE = "MusicDrops: new music from the artists you follow"


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _feed_user(token: str) -> User:
    user = services.feed_user(token=token)
    if user is None:
        raise Http404("Unknown feed")  # an old (reset) token too
    return user


def _releases(user: User) -> list[ReleaseGroup]:
    return list(selectors.feed_for_user(user=user, today=timezone.localdate())[:FEED_ITEMS])


def _by(release: ReleaseGroup) -> str:
    return ", ".join(a.name for a in release.artists.all())


def _page(release: ReleaseGroup) -> str:
    """The release's page on the site (with its cover, artists and a link to MusicBrainz)."""
    return settings.SITE_URL + reverse("front:release", args=[release.mbid])


def _midnight(day: dt.date | None) -> dt.datetime:
    return dt.datetime.combine(day or dt.date(1970, 1, 1), dt.time(), tzinfo=dt.UTC)


if TYPE_CHECKING:
    _AtomFeed = Feed[ReleaseGroup, User]  # generic in the type stubs only
else:
    _AtomFeed = Feed


class ReleasesAtomFeed(_AtomFeed):
    feed_type = Atom1Feed
    title = TITLE
    author_name = "MusicDrops"  # RFC 4287: a feed without an author on every entry must have one

    def get_object(self, request: HttpRequest, token: str) -> User:
        return _feed_user(token)

    def feed_guid(self, user: User) -> str:
        # One id per person's feed, kept when its address is reset: the same feed at a new URL.
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{settings.SITE_URL}/feeds/{user.pk}')}"

    def subtitle(self, user: User) -> str:
        kinds = catalog_services.preferences_for(user=user).wanted_kinds()
        if not kinds:
            return "Nothing: every kind of release is unticked in your preferences."
        # "Albums" reads "albums" inside a sentence; "EPs" stays "EPs".
        labels = [KIND_LABELS[k] if KIND_LABELS[k][:2].isupper() else KIND_LABELS[k].lower() for k in kinds]
        listed = labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"
        return f"{listed[0].upper()}{listed[1:]} by the artists you follow on MusicDrops."

    def link(self) -> str:
        return reverse("front:dashboard")

    def items(self, user: User) -> list[ReleaseGroup]:
        return _releases(user)

    # XML has no way to carry most control characters: one in any title would fail the whole feed.
    def item_title(self, item: ReleaseGroup) -> str:
        return clean_text(f"{item.title}, by {_by(item)}")

    def item_description(self, item: ReleaseGroup) -> str:
        # The syndication framework escapes this: it is text, not HTML.
        return clean_text(f"{item.get_kind_display()}, {item.release_date_display}")

    def item_link(self, item: ReleaseGroup) -> str:
        return _page(item)

    def item_guid(self, item: ReleaseGroup) -> str:
        return f"urn:uuid:{item.mbid}"

    def item_guid_is_permalink(self, item: ReleaseGroup) -> bool:
        return False

    def item_pubdate(self, item: ReleaseGroup) -> dt.datetime:
        return _midnight(item.first_release_date)

    def item_updateddate(self, item: ReleaseGroup) -> dt.datetime:
        return item.first_seen_at


atom = require_GET(ReleasesAtomFeed())


@require_GET
def icalendar(request: HttpRequest, token: str) -> HttpResponse:
    user = _feed_user(token)
    domain = urlsplit(settings.SITE_URL).hostname or "musicdrops.local"
    events = [
        ical.Event(
            uid=f"{release.mbid}@{domain}",
            day=release.first_release_date,
            summary=f"{release.title}, by {_by(release)}",
            description=f"{release.get_kind_display()} by {_by(release)}. {_page(release)}",
            url=_page(release),
        )
        for release in _releases(user)
        # A release known only to the month or year is not an event on a particular day.
        if release.first_release_date and release.date_precision == DatePrecision.DAY
    ]
    body = ical.calendar(name="MusicDrops releases", events=events, stamp=timezone.now())
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="musicdrops.ics"'
    return response


@login_required
def manage(request: HttpRequest) -> HttpResponse:
    token = services.feed_token_for(user=_user(request))
    urls = {
        "atom": request.build_absolute_uri(reverse("feeds:atom", args=[token])),
        "ical": request.build_absolute_uri(reverse("feeds:ical", args=[token])),
    }
    # webcal:// is how a link asks the calendar app to subscribe (it fetches over https or http itself).
    urls["webcal"] = "webcal://" + urls["ical"].split("://", 1)[1]
    return render(request, "feeds/manage.html", {"urls": urls})


@login_required
@require_POST
def reset(request: HttpRequest) -> HttpResponse:
    services.feed_token_reset(user=_user(request))
    messages.success(
        request, "New feed addresses made. The old ones no longer work: update your feed reader and calendar."
    )
    return redirect("feeds:manage")
