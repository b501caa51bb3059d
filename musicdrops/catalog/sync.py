"""Bring our copy of an artist's release groups (and name) in line with MusicBrainz: the browse, the authority."""

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from musicdrops.catalog import discovery
from musicdrops.catalog.models import Artist, ReleaseGroup, null_first, parse_partial_date
from musicdrops.catalog.musicbrainz import ArtistHit, MusicBrainzClient, MusicBrainzError, ReleaseGroupData

logger = logging.getLogger(__name__)

# Longer than the slowest paged fetch at 1 request/s, shorter than a user would notice after a worker died.
SYNC_LEASE = dt.timedelta(minutes=5)
# So that one broken artist cannot sit at the head of the stalest-first queue.
FAILURE_BACKOFF = dt.timedelta(hours=1)
# A newly followed artist synced more recently than this is not fetched again.
RESYNC_AFTER = dt.timedelta(hours=12)


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0
    merged: int = 0
    unlinked: int = 0
    removed: int = 0


def _merge_key(title: str, date: dt.date | None) -> tuple[str, dt.date | None]:
    return (" ".join(title.casefold().split()), date)


def artist_claim(
    *, artist_id: int, only_if_synced_before: dt.datetime | None = None, lease: dt.timedelta = SYNC_LEASE
) -> bool:
    """Take the artist's sync lease: False if held, backing off, or synced after ``only_if_synced_before``."""
    now = timezone.now()
    due = Artist.objects.filter(Q(sync_leased_until__isnull=True) | Q(sync_leased_until__lt=now), pk=artist_id)
    if only_if_synced_before is not None:
        due = due.filter(Q(synced_at__isnull=True) | Q(synced_at__lt=only_if_synced_before))
    return due.update(sync_leased_until=now + lease) == 1


@transaction.atomic
def release_groups_apply(
    *, artist: Artist, groups: list[ReleaseGroupData], now: dt.datetime, names: ArtistHit | None = None
) -> SyncResult:
    """Write the artist's release groups (and ``names``) as MusicBrainz has them, in a fixed number of queries."""
    result = SyncResult()
    incoming = {group.mbid: group for group in groups}
    known = {
        str(mbid): pk for mbid, pk in ReleaseGroup.objects.filter(mbid__in=list(incoming)).values_list("mbid", "pk")
    }
    linked = dict(
        ReleaseGroup.artists.through.objects.filter(artist=artist).values_list("releasegroup__mbid", "releasegroup_id")
    )
    vanished = {str(mbid): pk for mbid, pk in linked.items() if str(mbid) not in incoming}

    # An upstream merge (one group gone, one new, same title and date): our row, with who was told, gets the new id.
    if vanished:
        vanished_rows = ReleaseGroup.objects.in_bulk(list(vanished.values()))
        by_key = {_merge_key(rg.title, rg.first_release_date): rg for rg in vanished_rows.values()}
        renamed = []
        for mbid, group in incoming.items():
            if mbid in known:
                continue
            date, _ = parse_partial_date(group.first_release_date)
            row = by_key.pop(_merge_key(group.title, date), None)
            if row is not None:
                vanished.pop(str(row.mbid))
                row.mbid = mbid
                renamed.append(row)
                known[mbid] = row.pk
        if renamed:
            ReleaseGroup.objects.bulk_update(renamed, ["mbid"])
            result.merged = len(renamed)

    discovery.release_groups_upsert(groups=list(incoming.values()), now=now)
    result.created = len(incoming) - len(known)
    result.updated = len(known) - result.merged

    ids = list(ReleaseGroup.objects.filter(mbid__in=list(incoming)).values_list("pk", flat=True))
    Through = ReleaseGroup.artists.through
    Through.objects.bulk_create(
        [Through(artist_id=artist.pk, releasegroup_id=pk) for pk in ids], batch_size=500, ignore_conflicts=True
    )
    # Re-added upstream: no longer removed.
    ReleaseGroup.objects.filter(pk__in=ids, removed_at__isnull=False).update(removed_at=None)

    if vanished:
        result.unlinked = Through.objects.filter(artist=artist, releasegroup_id__in=vanished.values()).delete()[0]
        result.removed = ReleaseGroup.objects.filter(
            pk__in=vanished.values(), artists__isnull=True, removed_at__isnull=True
        ).update(removed_at=now)

    named = {"name": names.name, "sort_name": names.sort_name, "disambiguation": names.disambiguation} if names else {}
    Artist.objects.filter(pk=artist.pk).update(synced_at=now, sync_leased_until=None, browse_wanted_at=None, **named)
    return result


def artist_sync(
    *, artist_id: int, client: MusicBrainzClient, only_if_synced_before: dt.datetime | None = None
) -> SyncResult | None:
    """Fetch and apply one artist's release groups. None if someone else is syncing it (or did, since)."""
    if not artist_claim(artist_id=artist_id, only_if_synced_before=only_if_synced_before):
        return None
    artist = Artist.objects.get(pk=artist_id)
    try:
        names = client.get_artist(str(artist.mbid))
        groups = client.browse_release_groups(str(artist.mbid))
    except MusicBrainzError as error:  # an outage, already retried: one line, no traceback
        logger.warning("sync of artist %s (%s) failed; retrying in an hour: %s", artist.pk, artist.mbid, error)
        Artist.objects.filter(pk=artist.pk).update(sync_leased_until=timezone.now() + FAILURE_BACKOFF)
        raise
    except BaseException:
        # A time limit or a shutdown: let the next sync have it straight away.
        Artist.objects.filter(pk=artist.pk).update(sync_leased_until=None)
        raise
    if names.mbid != str(artist.mbid):
        # Merged upstream: the lookup answered with the artist it became; its name is the one to show.
        logger.info("artist %s (%s) is now %s on MusicBrainz", artist.pk, artist.mbid, names.mbid)
    result = release_groups_apply(artist=artist, groups=groups, now=timezone.now(), names=names)
    logger.info("synced artist %s (%s): %s", artist.pk, artist.mbid, result)
    return result


def stale_artist_ids(*, limit: int, now: dt.datetime | None = None) -> list[int]:
    """Followed artists due for the authoritative browse, never-synced first, then the stalest."""
    now = now or timezone.now()
    browse_after = dt.timedelta(seconds=settings.CATALOG_BROWSE_AFTER_SECONDS)
    due = (
        Artist.objects.filter(discovery.followed(), discovery.issued_by_musicbrainz())
        .alias(synced=null_first("synced_at"))  # never synced as the earliest: a range of catalog_artist_synced_at
        .filter(synced__lt=now - browse_after)
        .filter(Q(sync_leased_until__isnull=True) | Q(sync_leased_until__lt=now))
        .order_by("synced", "pk")
    )
    return list(due.values_list("pk", flat=True)[:limit])


def urgent_artist_ids(*, limit: int, now: dt.datetime | None = None) -> list[int]:
    """Followed artists whose browse cannot wait: never synced, or a search asked for it."""
    now = now or timezone.now()
    due = (
        Artist.objects.filter(discovery.followed(), discovery.issued_by_musicbrainz())
        .filter(Q(synced_at__isnull=True) | Q(browse_wanted_at__isnull=False))  # catalog_artist_urgent's condition
        .filter(Q(sync_leased_until__isnull=True) | Q(sync_leased_until__lt=now))
        .order_by(null_first("browse_wanted_at"), "pk")
    )
    return list(due.values_list("pk", flat=True)[:limit])


def stale_artists_sync(*, client: MusicBrainzClient, seconds: float, max_artists: int = 500) -> dict[str, int]:
    """Keep the catalogue fresh for about ``seconds``: urgent browses, due searches, then the sweep.

    Safe twice at once: each artist is claimed before its browse, each batch before its search.
    """
    deadline = time.monotonic() + seconds
    figures = {"synced": 0, "skipped": 0, "failed": 0, "searches": 0, "searched": 0, "found": 0, "requests": 0}
    start_requests = client.requests_made

    def keep_going() -> bool:
        return time.monotonic() < deadline

    def browse(artist_ids: list[int], synced_before: dt.datetime | None) -> None:
        for artist_id in artist_ids:
            if not keep_going():
                return
            try:
                result = artist_sync(artist_id=artist_id, client=client, only_if_synced_before=synced_before)
            except MusicBrainzError:
                figures["failed"] += 1
                continue
            figures["synced" if result is not None else "skipped"] += 1

    started = timezone.now()
    # A list of ids goes stale while another run works through it: "synced before we started" keeps it honest.
    browse(urgent_artist_ids(limit=max_artists), started)
    found = discovery.releases_discover(client=client, keep_going=keep_going)
    figures.update(searches=found.searches, searched=found.artists, found=found.found)
    browse(
        stale_artist_ids(limit=max_artists),
        started - dt.timedelta(seconds=settings.CATALOG_BROWSE_AFTER_SECONDS),
    )
    figures["requests"] = client.requests_made - start_requests
    return figures


# A second "refresh now" within this does not spend the shared MusicBrainz budget again.
REFRESH_AFTER = dt.timedelta(minutes=10)
REFRESH_WAIT_STEP = 0.25


@dataclass
class RefreshResult:
    total: int = 0
    checked: int = 0
    fresh: int = 0  # synced recently, or by another sync while the refresh waited for it
    failed: int = 0
    left: int = 0  # not reached before the deadline; the periodic sync gets them
    new_releases: int = 0


def _refresh_artist(
    artist_id: int, *, client: MusicBrainzClient, synced_before: dt.datetime, result: RefreshResult
) -> bool:
    """Sync one artist for a refresh and count it; False if another sync is fetching it right now."""
    try:
        synced = artist_sync(artist_id=artist_id, client=client, only_if_synced_before=synced_before)
    except MusicBrainzError:
        result.failed += 1
        return True
    if synced is not None:
        result.checked += 1
        result.new_releases += synced.created
        return True
    artist = Artist.objects.only("synced_at", "sync_leased_until").get(pk=artist_id)
    now = timezone.now()
    if artist.synced_at is not None and artist.synced_at >= synced_before:
        result.fresh += 1
        return True
    if artist.sync_leased_until is not None and artist.sync_leased_until > now + SYNC_LEASE:
        # Longer than any sync's lease: the back-off after MusicBrainz failed for it.
        result.failed += 1
        return True
    return False


class RefreshFailed(Exception):
    """MusicBrainz answered for none of the artists a refresh tried."""


def library_refresh(
    *,
    user_id: int,
    client: MusicBrainzClient,
    seconds: float,
    on_progress: Callable[[RefreshResult], None] = lambda result: None,
) -> RefreshResult:
    """Sync the artists one user follows, stalest first, for up to ``seconds``.

    Safe twice or concurrently: each artist takes the usual lease, and one synced since the refresh began is fresh.
    """
    deadline = time.monotonic() + seconds
    synced_before = timezone.now() - REFRESH_AFTER
    followed = Artist.objects.filter(follows__user_id=user_id)
    artist_ids = list(
        followed.filter(discovery.issued_by_musicbrainz())
        .order_by(F("synced_at").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)
    )
    # Made up (the demo's): nothing to ask MusicBrainz, so up to date.
    made_up = followed.exclude(discovery.issued_by_musicbrainz()).count()
    result = RefreshResult(total=len(artist_ids) + made_up, fresh=made_up)
    on_progress(result)
    # Another sync is fetching these: wait for it at the end, as counting them fresh would report "all done" too soon.
    busy: list[int] = []
    for position, artist_id in enumerate(artist_ids):
        if time.monotonic() >= deadline:
            result.left = len(artist_ids) - position
            break
        if not _refresh_artist(artist_id, client=client, synced_before=synced_before, result=result):
            busy.append(artist_id)
        on_progress(result)
    while busy:
        if time.monotonic() >= deadline:
            result.left += len(busy)
            on_progress(result)
            break
        time.sleep(REFRESH_WAIT_STEP)
        busy = [a for a in busy if not _refresh_artist(a, client=client, synced_before=synced_before, result=result)]
        on_progress(result)
    if result.failed and not result.checked and not result.fresh:
        raise RefreshFailed("MusicBrainz is not answering right now, so none of your artists could be checked.")
    return result
