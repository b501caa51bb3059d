"""Reading the catalog for a user."""

import dataclasses
import datetime as dt
import hashlib
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, Prefetch, QuerySet
from django.db.models.functions import Collate, Lower

from musicdrops.accounts.models import User
from musicdrops.catalog.models import DEFAULT_KINDS, Artist, Follow, ImportJob, ReleaseGroup, ReleasePreferences
from musicdrops.catalog.musicbrainz import ArtistHit, MusicBrainzClient
from musicdrops.catalog.text import clean_text

FEED_DAYS_BACK = 90


def artist_search(*, query: str, client: MusicBrainzClient, limit: int = 15) -> list[ArtistHit]:
    """MusicBrainz's artists for what someone typed, cached: each retype would spend a second of the shared budget."""
    words = " ".join(clean_text(query).casefold().split())
    key = "mb:artist-search:" + hashlib.sha256(f"{limit}:{words}".encode()).hexdigest()
    cached = cache.get(key)
    if isinstance(cached, list):
        return [ArtistHit(**hit) for hit in cached]
    hits = client.search_artists(query, limit=limit)
    cache.set(key, [dataclasses.asdict(hit) for hit in hits], settings.MUSICBRAINZ_SEARCH_CACHE_SECONDS)
    return hits


def wanted_kinds(*, user: User) -> list[str]:
    preferences = ReleasePreferences.objects.filter(user=user).first()
    return preferences.wanted_kinds() if preferences else list(DEFAULT_KINDS)


def feed_for_user(
    *, user: User, today: dt.date, kind: str = "", artist_id: int | None = None, when: str = ""
) -> QuerySet[ReleaseGroup]:
    """New and upcoming releases by the artists the user follows, of the kinds they want, newest first.

    Narrowed to one wanted ``kind``, one followed ``artist_id``, or ``when`` "out" or "upcoming" (soonest first).
    """
    followed = Follow.objects.filter(user=user).values("artist_id")
    if artist_id is not None:
        followed = followed.filter(artist_id=artist_id)
    kinds = wanted_kinds(user=user)
    releases = ReleaseGroup.objects.filter(
        artists__in=followed,
        kind__in=[kind] if kind in kinds else kinds,
        removed_at__isnull=True,
        first_release_date__gte=today - dt.timedelta(days=FEED_DAYS_BACK),
    )
    if when == "out":
        releases = releases.filter(first_release_date__lte=today)
    order = ["-first_release_date", "title", "pk"]
    if when == "upcoming":
        releases, order = releases.filter(first_release_date__gt=today), ["first_release_date", "title", "pk"]
    return (
        releases.distinct()
        .order_by(*order)
        .prefetch_related(
            Prefetch(
                "artists",
                queryset=Artist.objects.filter(follows__user=user).only("id", "name", "mbid", "disambiguation"),
            )
        )
    )


def artist_by_id(value: str) -> Artist | None:
    """The artist with this id (as a URL gives it), or None for anything else."""
    return Artist.objects.filter(pk=int(value)).first() if value.isdigit() and len(value) < 19 else None


def followed_artists(*, user: User) -> QuerySet[Artist]:
    return Artist.objects.filter(follows__user=user).order_by(_natural("sort_name"), _natural("name"), "pk")


def _natural(field: str) -> Collate | Lower:
    """Order by ``field`` as people read it: "Artist 2" before "Artist 10", "björk" beside "Björk".

    With the ICU collation of migration 0003; SQLite (make run) has no ICU, so there only case is ignored.
    """
    if connection.vendor == "postgresql":
        return Collate(field, "natural")
    return Lower(field)


def followed_mbids(*, user: User) -> set[str]:
    return {str(m) for m in Artist.objects.filter(follows__user=user).values_list("mbid", flat=True)}


def twin_names(*, user: User) -> set[str]:
    """Names that more than one of the user's artists bear: where they appear, the disambiguation goes with them."""
    names = Artist.objects.filter(follows__user=user).values("name").annotate(n=Count("id")).filter(n__gt=1)
    return set(names.values_list("name", flat=True))


def known_mbids(*, mbids: list[str]) -> set[str]:
    return {str(m) for m in Artist.objects.filter(mbid__in=mbids).values_list("mbid", flat=True)}


def imports_for(*, user: User) -> QuerySet[ImportJob]:
    return ImportJob.objects.filter(user=user)[:10]


def artist_by_mbid(*, mbid: uuid.UUID) -> Artist | None:
    return Artist.objects.filter(mbid=mbid).first()


def artist_releases(*, artist: Artist, today: dt.date) -> tuple[list[ReleaseGroup], QuerySet[ReleaseGroup]]:
    """An artist's releases, with credits: upcoming (soonest first), then the rest (newest first, undated last)."""
    credited = Artist.objects.order_by("name", "pk").only("id", "name", "mbid", "disambiguation")
    releases = ReleaseGroup.objects.filter(artists=artist, removed_at__isnull=True).prefetch_related(
        Prefetch("artists", queryset=credited)
    )
    upcoming = list(releases.filter(first_release_date__gt=today).order_by("first_release_date", "title", "pk"))
    released = releases.exclude(first_release_date__gt=today).order_by(
        F("first_release_date").desc(nulls_last=True), "title", "pk"
    )
    return upcoming, released


def release_by_mbid(*, mbid: uuid.UUID) -> ReleaseGroup | None:
    """The release group, with its artists in name order; one removed upstream too (the page says so)."""
    return (
        ReleaseGroup.objects.filter(mbid=mbid)
        .prefetch_related(Prefetch("artists", queryset=Artist.objects.order_by("name", "pk")))
        .first()
    )


def follows(*, user: User, artist: Artist) -> bool:
    return Follow.objects.filter(user=user, artist=artist).exists()
