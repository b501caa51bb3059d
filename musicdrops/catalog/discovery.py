"""Finding new releases for many artists at once with batched release-group searches (see docs/catalog.md)."""

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from musicdrops.catalog.models import Artist, Follow, ReleaseGroup, null_first, parse_partial_date, release_kind
from musicdrops.catalog.musicbrainz import (
    FoundReleaseGroup,
    MusicBrainzClient,
    MusicBrainzError,
    QueryTooLong,
    ReleaseGroupData,
    artists_per_search,
)

logger = logging.getLogger(__name__)

# How long a claimed batch stays claimed: longer than its pages take at 1 request/s.
SEARCH_LEASE = dt.timedelta(minutes=10)
# Artists due this soon fill a batch going anyway; shorter than the lease, or a batch in flight is claimed again.
SEARCH_EARLY = dt.timedelta(minutes=5)
# A search index that has not caught up with a browse of this age is lag, not news.
INDEX_LAG_GRACE = dt.timedelta(hours=6)
_UPSERT_FIELDS = ["title", "primary_type", "secondary_types", "first_release_date", "date_precision", "kind"]


@dataclass(frozen=True)
class Window:
    """A range of first-release dates searched for, relative to today, and the field that says when it is due."""

    name: str
    due_field: str
    first_day: int  # days from today; negative: in the past
    last_day: int

    def dates(self, today: dt.date) -> tuple[dt.date, dt.date]:
        return today + dt.timedelta(days=self.first_day), today + dt.timedelta(days=self.last_day)


# What the email and the feed announce: dated in the last two weeks (entered late) or within the month.
NEAR = Window("near", "search_due_at", first_day=-14, last_day=31)
FAR = Window("far", "far_search_due_at", first_day=32, last_day=730)


@dataclass
class DiscoveryFigures:
    searches: int = 0
    failed: int = 0  # batches a failure cut short; their pages so far are kept
    artists: int = 0
    found: int = 0
    created: int = 0
    linked: int = 0
    browse_wanted: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)


def followed() -> Exists:
    """Artists someone follows, as a filter (EXISTS: no join, no DISTINCT, so FOR UPDATE works)."""
    return Exists(Follow.objects.filter(artist_id=OuterRef("pk")))


def issued_by_musicbrainz() -> Q:
    """Artists MusicBrainz could know (not made up: Artist.made_up), as a filter."""
    return Q(made_up=False)


def batch_claim(*, window: Window, now: dt.datetime, limit: int) -> dict[str, int]:
    """Claim up to ``limit`` due artists, most overdue first, as {mbid: pk}; {} unless full or one is due."""
    due = window.due_field
    with transaction.atomic():
        rows = list(
            Artist.objects.select_for_update(skip_locked=True)
            # The browse sees an artist first (and the window's index holds only those).
            .filter(followed(), issued_by_musicbrainz(), synced_at__isnull=False)
            .alias(due_at=null_first(due))  # due at once (null) as the earliest: a range of the window's index
            .filter(due_at__lte=now + SEARCH_EARLY)
            .order_by("due_at", "pk")
            .values_list("mbid", "pk", due)[:limit]
        )
        if not rows or (len(rows) < limit and rows[0][2] is not None and rows[0][2] > now):
            return {}
        Artist.objects.filter(pk__in=[pk for _, pk, _ in rows]).update(**{due: now + SEARCH_LEASE})
    return {str(mbid): pk for mbid, pk, _ in rows}


def release_groups_upsert(*, groups: list[ReleaseGroupData], now: dt.datetime) -> None:
    """Insert or update release groups (``first_seen_at`` only on insert): the one upsert, for browse and search."""
    rows = []
    for group in groups:
        date, precision = parse_partial_date(group.first_release_date)
        rows.append(
            ReleaseGroup(
                mbid=group.mbid,
                title=group.title[:1000],
                primary_type=group.primary_type[:32],
                secondary_types=list(group.secondary_types),
                first_release_date=date,
                date_precision=precision,
                kind=release_kind(group.primary_type, list(group.secondary_types)),
                first_seen_at=now,
            )
        )
    if rows:
        ReleaseGroup.objects.bulk_create(
            rows, batch_size=500, update_conflicts=True, unique_fields=["mbid"], update_fields=_UPSERT_FIELDS
        )


@transaction.atomic
def found_apply(*, found: list[FoundReleaseGroup], now: dt.datetime) -> tuple[int, int, set[int]]:
    """Write one page of search results, never unlinking: (created, links added, artists whose browse is wanted)."""
    credited = {mbid for f in found for mbid in f.artist_mbids}
    ours = {str(m): pk for m, pk in Artist.objects.filter(mbid__in=credited).values_list("mbid", "pk")}
    groups = {f.group.mbid: f for f in found if any(m in ours for m in f.artist_mbids)}
    if not groups:
        return 0, 0, set()
    known = {str(m) for m in ReleaseGroup.objects.filter(mbid__in=list(groups)).values_list("mbid", flat=True)}

    browse_wanted: set[int] = set()
    new = {mbid: f for mbid, f in groups.items() if mbid not in known}
    # A new id with the title and date of a held group is likely a merge upstream: the browse decides.
    if new:
        artist_ids = {ours[m] for f in new.values() for m in f.artist_mbids if m in ours}
        held = defaultdict(set)
        for artist_id, title, date in ReleaseGroup.artists.through.objects.filter(
            artist_id__in=artist_ids, releasegroup__removed_at__isnull=True
        ).values_list("artist_id", "releasegroup__title", "releasegroup__first_release_date"):
            held[artist_id].add((" ".join(title.casefold().split()), date))
        for mbid, f in list(new.items()):
            date, _ = parse_partial_date(f.group.first_release_date)
            key = (" ".join(f.group.title.casefold().split()), date)
            twins = {ours[m] for m in f.artist_mbids if m in ours and key in held[ours[m]]}
            if twins:
                browse_wanted |= twins
                del groups[mbid]

    release_groups_upsert(groups=[f.group for f in groups.values()], now=now)
    ids = {str(m): pk for m, pk in ReleaseGroup.objects.filter(mbid__in=list(groups)).values_list("mbid", "pk")}
    Through = ReleaseGroup.artists.through
    links = [
        Through(artist_id=ours[m], releasegroup_id=pk)
        for mbid, pk in ids.items()
        for m in groups[mbid].artist_mbids
        if m in ours
    ]
    before = Through.objects.filter(releasegroup_id__in=ids.values()).count()
    Through.objects.bulk_create(links, batch_size=500, ignore_conflicts=True)
    added = Through.objects.filter(releasegroup_id__in=ids.values()).count() - before
    ReleaseGroup.objects.filter(pk__in=ids.values(), removed_at__isnull=False).update(removed_at=None)
    return len(groups) - len(known & set(groups)), added, browse_wanted


def _left_the_window(
    *, artist_ids: list[int], returned: set[str], start: dt.date, end: dt.date, now: dt.datetime
) -> set[int]:
    """Artists holding a group in the window a complete search did not return, unless browsed within the index lag."""
    held = ReleaseGroup.artists.through.objects.filter(
        artist_id__in=artist_ids,
        releasegroup__first_release_date__gte=start,
        releasegroup__first_release_date__lte=end,
        releasegroup__removed_at__isnull=True,
        artist__synced_at__lt=now - INDEX_LAG_GRACE,
    ).values_list("artist_id", "releasegroup__mbid")
    return {artist_id for artist_id, mbid in held if str(mbid) not in returned}


def _reschedule(*, artist_ids: list[int], window: Window, now: dt.datetime) -> None:
    """Set when each artist of a searched batch is due again: sooner for many followers or an upcoming release."""
    if window is FAR:
        Artist.objects.filter(pk__in=artist_ids).update(
            far_search_due_at=now + dt.timedelta(seconds=settings.CATALOG_FAR_SEARCH_SECONDS)
        )
        return
    popular = set(
        Follow.objects.filter(artist_id__in=artist_ids)
        .values("artist_id")
        .annotate(n=Count("id"))
        .filter(n__gte=settings.CATALOG_HOT_FOLLOWERS)
        .values_list("artist_id", flat=True)
    )
    upcoming = set(
        ReleaseGroup.artists.through.objects.filter(
            artist_id__in=artist_ids,
            releasegroup__first_release_date__gt=now.date(),
            releasegroup__removed_at__isnull=True,
        ).values_list("artist_id", flat=True)
    )
    hot = popular | upcoming
    cold = [pk for pk in artist_ids if pk not in hot]
    Artist.objects.filter(pk__in=hot).update(
        search_due_at=now + dt.timedelta(seconds=settings.CATALOG_HOT_SEARCH_SECONDS), searched_at=now
    )
    Artist.objects.filter(pk__in=cold).update(
        search_due_at=now + dt.timedelta(seconds=settings.CATALOG_SEARCH_SECONDS), searched_at=now
    )


def batch_search(
    *, batch: dict[str, int], window: Window, client: MusicBrainzClient, now: dt.datetime, figures: DiscoveryFigures
) -> None:
    """Search one claimed batch to its last page; a failure keeps the pages so far and the lease, a 414 splits it."""
    start, end = window.dates(now.date())
    returned: set[str] = set()
    try:
        for page in client.search_release_groups(list(batch), start=start, end=end):
            created, linked, wanted = found_apply(found=page, now=now)
            returned.update(f.group.mbid for f in page)
            figures.found += len(page)
            figures.created += created
            figures.linked += linked
            _browse_wanted(wanted, now=now, figures=figures)
    except QueryTooLong:
        if len(batch) == 1:
            raise
        items = list(batch.items())
        for half in (dict(items[: len(items) // 2]), dict(items[len(items) // 2 :])):
            batch_search(batch=half, window=window, client=client, now=now, figures=figures)
        return
    artist_ids = list(batch.values())
    _browse_wanted(
        _left_the_window(artist_ids=artist_ids, returned=returned, start=start, end=end, now=now),
        now=now,
        figures=figures,
    )
    _reschedule(artist_ids=artist_ids, window=window, now=now)
    figures.searches += 1
    figures.artists += len(batch)


def _browse_wanted(artist_ids: set[int], *, now: dt.datetime, figures: DiscoveryFigures) -> None:
    if artist_ids:
        figures.browse_wanted += Artist.objects.filter(pk__in=artist_ids, browse_wanted_at__isnull=True).update(
            browse_wanted_at=now
        )


def batch_size(*, client: MusicBrainzClient, window: Window, today: dt.date) -> int:
    start, end = window.dates(today)
    return artists_per_search(
        base_url=client.base_url, start=start, end=end, max_url=settings.MUSICBRAINZ_SEARCH_MAX_URL
    )


def releases_discover(
    *, client: MusicBrainzClient, keep_going: Callable[[], bool], now: Callable[[], dt.datetime] = timezone.now
) -> DiscoveryFigures:
    """Search every due batch, near window first, while ``keep_going()``; safe twice at once, batches are claimed.

    Stops at the first failure: the batch's lease brings it back, and a struggling upstream gets no more requests.
    """
    figures = DiscoveryFigures()
    start_requests = client.requests_made
    for window in (NEAR, FAR):
        size = batch_size(client=client, window=window, today=now().date())
        while keep_going():
            moment = now()
            batch = batch_claim(window=window, now=moment, limit=size)
            if not batch:
                break
            try:
                batch_search(batch=batch, window=window, client=client, now=moment, figures=figures)
            except MusicBrainzError as error:
                figures.failed += 1
                figures.errors.append(str(error))
                logger.warning("release search for %d artists (%s window) failed: %s", len(batch), window.name, error)
                figures.requests = client.requests_made - start_requests
                return figures
    figures.requests = client.requests_made - start_requests
    return figures
