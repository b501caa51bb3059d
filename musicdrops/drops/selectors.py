"""Who is due a drop, and with which releases. Bulk queries: a fixed number per chunk of users."""

import datetime as dt
import functools
import operator
import uuid
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, QuerySet
from django.urls import reverse

from musicdrops.accounts.models import Suppression, User
from musicdrops.accounts.zones import DAILY, WEEKLY
from musicdrops.catalog.covers import cover_url
from musicdrops.catalog.models import DEFAULT_KINDS, DatePrecision, Follow, ReleaseGroup, ReleasePreferences
from musicdrops.drops.delivery_time import due_windows, period_of
from musicdrops.drops.emails import DropRelease
from musicdrops.drops.models import DeliveredRelease, Delivery

# Days back a release still counts as new: we may learn of it late; a weekly digest looks back a week further.
NEW_FOR_DAYS = 7
NEW_FOR_DAYS_WEEKLY = NEW_FOR_DAYS + 7


@dataclass(frozen=True)
class Due:
    day: dt.date  # the user's local date the email is for
    period: str
    weekly: bool


def recipients() -> QuerySet[User]:
    """People who get drops at all: active, confirmed address not on the suppression list, drops on."""
    return User.objects.filter(is_active=True, receives_drops=True, email_verified_at__isnull=False).exclude(
        email__in=Suppression.objects.values("email")
    )


def due_users(*, slot: dt.datetime, catch_up_hours: int) -> dict[int, Due]:
    """Recipients who follow someone, whose delivery time this slot serves, and who have no email for its period."""
    listeners = recipients().filter(follows__isnull=False)
    zones = listeners.order_by().values_list("time_zone", flat=True).distinct()
    windows = due_windows(slot=slot, time_zones=list(zones), catch_up_hours=catch_up_hours)
    if not windows:
        return {}
    local_day = {(w.time_zone, hour): w.day for w in windows for hour in w.hours}
    terms = [
        Q(time_zone=w.time_zone, delivery_hour__in=w.hours)
        & (Q(digest=DAILY) | Q(digest=WEEKLY, digest_weekday=w.day.weekday()))
        for w in windows
    ]
    due = {}
    for pk, time_zone, hour, digest in (
        listeners.filter(functools.reduce(operator.or_, terms))
        .distinct()
        .values_list("pk", "time_zone", "delivery_hour", "digest")
    ):
        day = local_day[time_zone, hour]
        due[pk] = Due(day=day, period=period_of(day=day, digest=digest), weekly=digest == WEEKLY)
    had = Delivery.objects.filter(user_id__in=list(due), period__in={d.period for d in due.values()})
    for user_id, period in had.values_list("user_id", "period"):
        if due[user_id].period == period:
            del due[user_id]
    return dict(sorted(due.items()))


def new_releases_for(due: dict[int, Due]) -> dict[int, list[int]]:
    """``new_releases`` of each due user, on their own local date: a query set per date and cadence."""
    groups: dict[tuple[dt.date, bool], list[int]] = defaultdict(list)
    for user_id, d in due.items():
        groups[d.day, d.weekly].append(user_id)
    found: dict[int, list[int]] = {}
    for (day, weekly), user_ids in groups.items():
        found |= new_releases(user_ids=user_ids, day=day, days=NEW_FOR_DAYS_WEEKLY if weekly else NEW_FOR_DAYS)
    return found


def new_releases(*, user_ids: list[int], day: dt.date, days: int = NEW_FOR_DAYS) -> dict[int, list[int]]:
    """For each user, the release groups new on ``day`` (dated within ``days`` of it) they want and were never sent."""
    eligible = recipients().filter(pk__in=user_ids).values("pk")
    rows = Follow.objects.filter(
        user_id__in=eligible,
        artist__release_groups__date_precision=DatePrecision.DAY,
        artist__release_groups__first_release_date__gt=day - dt.timedelta(days=days),
        artist__release_groups__first_release_date__lte=day,
        artist__release_groups__removed_at__isnull=True,
    ).values_list("user_id", "artist__release_groups__id", "artist__release_groups__kind")
    candidates: dict[int, set[int]] = defaultdict(set)
    kinds_of: dict[int, str] = {}
    for user_id, release_id, kind in rows:
        candidates[user_id].add(release_id)
        kinds_of[release_id] = kind
    if not candidates:
        return {}
    wanted = {p.user_id: set(p.wanted_kinds()) for p in ReleasePreferences.objects.filter(user_id__in=candidates)}
    sent = set(
        DeliveredRelease.objects.filter(user_id__in=candidates, release_group_id__in=kinds_of).values_list(
            "user_id", "release_group_id"
        )
    )
    result = {}
    for user_id, releases in candidates.items():
        kinds = wanted.get(user_id, set(DEFAULT_KINDS))
        new = sorted(r for r in releases if kinds_of[r] in kinds and (user_id, r) not in sent)
        if new:
            result[user_id] = new
    return result


def drop_releases(*, release_ids: set[int]) -> dict[int, DropRelease]:
    """What the email shows for each release group, in two queries."""
    # Plain rows: prefetch_related would build a queryset per release group.
    credits: dict[int, list[tuple[str, str, str, str]]] = defaultdict(list)
    for release_id, artist_id, mbid, name, disambiguation in (
        ReleaseGroup.artists.through.objects.filter(releasegroup_id__in=release_ids)
        .order_by("artist__name", "artist_id")
        .values_list("releasegroup_id", "artist_id", "artist__mbid", "artist__name", "artist__disambiguation")
    ):
        full = f"{name} ({disambiguation})" if disambiguation else name
        credits[release_id].append((str(artist_id), name, full, _page("front:artist", mbid)))
    return {
        rg.pk: DropRelease(
            title=rg.title,
            artists=" & ".join(name for _, name, _, _ in credits[rg.pk]) or "Unknown artist",
            kind=rg.get_kind_display(),
            date=rg.release_date_display,
            url=_page("front:release", rg.mbid),
            artist_key=",".join(key for key, _, _, _ in credits[rg.pk]),
            artists_full=" & ".join(full for _, _, full, _ in credits[rg.pk]),
            credits=tuple((name, full, url) for _, name, full, url in credits[rg.pk]),
            cover_url=cover_url(rg.mbid),
        )
        for rg in ReleaseGroup.objects.filter(pk__in=release_ids)
    }


def _page(view: str, mbid: uuid.UUID) -> str:
    return settings.SITE_URL + reverse(view, args=[mbid])
