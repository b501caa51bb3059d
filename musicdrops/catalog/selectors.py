"""Reading the catalog for a user."""

import datetime as dt

from django.db.models import Prefetch, QuerySet

from musicdrops.accounts.models import User
from musicdrops.catalog.models import DEFAULT_KINDS, Artist, Follow, ImportJob, ReleaseGroup, ReleasePreferences

FEED_DAYS_BACK = 90


def wanted_kinds(*, user: User) -> list[str]:
    preferences = ReleasePreferences.objects.filter(user=user).first()
    return preferences.wanted_kinds() if preferences else list(DEFAULT_KINDS)


def feed_for_user(*, user: User, today: dt.date) -> QuerySet[ReleaseGroup]:
    """New and upcoming releases by the artists the user follows, of the kinds they want, newest first."""
    followed = Follow.objects.filter(user=user).values("artist_id")
    return (
        ReleaseGroup.objects.filter(
            artists__in=followed,
            kind__in=wanted_kinds(user=user),
            removed_at__isnull=True,
            first_release_date__gte=today - dt.timedelta(days=FEED_DAYS_BACK),
        )
        .distinct()
        .order_by("-first_release_date", "title", "pk")
        .prefetch_related(
            Prefetch("artists", queryset=Artist.objects.filter(follows__user=user).only("id", "name", "mbid"))
        )
    )


def followed_artists(*, user: User) -> QuerySet[Artist]:
    return Artist.objects.filter(follows__user=user).order_by("sort_name", "name", "pk")


def followed_mbids(*, user: User) -> set[str]:
    return {str(m) for m in Artist.objects.filter(follows__user=user).values_list("mbid", flat=True)}


def imports_for(*, user: User) -> QuerySet[ImportJob]:
    return ImportJob.objects.filter(user=user)[:10]
