"""Who is due a drop, and with which releases. Bulk queries: a fixed number per chunk of users."""

import datetime as dt
from collections import defaultdict

from django.db.models import QuerySet

from musicdrops.accounts.models import User
from musicdrops.catalog.models import DEFAULT_KINDS, DatePrecision, Follow, ReleaseGroup, ReleasePreferences
from musicdrops.drops.emails import DropRelease
from musicdrops.drops.models import DeliveredRelease

# A release dated up to this many days back still counts as new: we may learn
# about it a few days late, and a user may have missed a day.
NEW_FOR_DAYS = 7


def recipients() -> QuerySet[User]:
    """People who get drops at all: active, confirmed address, drops on."""
    return User.objects.filter(is_active=True, receives_drops=True, email_verified_at__isnull=False)


def due_user_ids(*, day: dt.date) -> list[int]:
    """Recipients who follow someone and have no drop for ``day`` yet, in id order."""
    return list(
        recipients()
        .filter(follows__isnull=False)
        .exclude(deliveries__day=day)
        .distinct()
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def new_releases(*, user_ids: list[int], day: dt.date) -> dict[int, list[int]]:
    """For each user, the release groups new on ``day`` that they want and were never sent."""
    eligible = recipients().filter(pk__in=user_ids).values("pk")
    rows = Follow.objects.filter(
        user_id__in=eligible,
        artist__release_groups__date_precision=DatePrecision.DAY,
        artist__release_groups__first_release_date__gt=day - dt.timedelta(days=NEW_FOR_DAYS),
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
    # The artists' names as plain rows: prefetch_related would build a queryset per release group.
    names: dict[int, list[str]] = defaultdict(list)
    for release_id, name in ReleaseGroup.artists.through.objects.filter(releasegroup_id__in=release_ids).values_list(
        "releasegroup_id", "artist__name"
    ):
        names[release_id].append(name)
    return {
        rg.pk: DropRelease(
            title=rg.title,
            artists=" & ".join(sorted(names[rg.pk])) or "Unknown artist",
            kind=rg.get_kind_display(),
            date=rg.release_date_display,
            musicbrainz_url=f"https://musicbrainz.org/release-group/{rg.mbid}",
        )
        for rg in ReleaseGroup.objects.filter(pk__in=release_ids)
    }
