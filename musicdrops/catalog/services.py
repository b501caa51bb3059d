"""Following artists, one at a time or imported in bulk."""

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog import deezer, lastfm
from musicdrops.catalog.deezer import DeezerClient, DeezerError, DeezerProfileUnavailable
from musicdrops.catalog.lastfm import LastfmClient, LastfmError, LastfmNotConfigured, UnknownLastfmUser
from musicdrops.catalog.listenbrainz import (
    ListenBrainzClient,
    ListenBrainzError,
    StatsNotReady,
    TopArtist,
    UnknownListenBrainzUser,
)
from musicdrops.catalog.models import Artist, Follow, ImportJob, ReleasePreferences
from musicdrops.catalog.musicbrainz import (
    SPECIAL_PURPOSE_ARTISTS,
    ArtistHit,
    ArtistNotFound,
    MusicBrainzClient,
    MusicBrainzError,
    canonical_mbid,
)
from musicdrops.catalog.text import clean_text

logger = logging.getLogger(__name__)

MAX_IMPORT_NAMES = 500
MAX_LISTENBRAINZ_ARTISTS = 100
MAX_SOURCE_ARTISTS = 500  # from Last.fm or Deezer, whose long libraries come in pages
# Each name is a search at the 1 request/s everyone shares: one account may not book hours of it.
MAX_IMPORT_NAMES_PER_DAY = 1000
MAX_IMPORTS_PER_HOUR = 5  # small lists one after the other are still bulk work
IMPORT_SLICE_SECONDS = 60
IMPORT_LEASE = dt.timedelta(minutes=3)

# tasks.py passes its queue_* functions in (taking an id), so this module never imports the tasks that call it.
Queue = Callable[[int], None]


class FollowError(Exception):
    """Why an artist cannot be followed, in words for the user."""


def parse_mbid(value: str) -> str:
    try:
        return str(uuid.UUID(value.strip()))
    except (ValueError, AttributeError):
        raise FollowError("That is not a MusicBrainz artist id.") from None


# What an artist takes from an ArtistHit (fields of the same names), with each field's stored length.
ARTIST_FIELDS = {
    "name": 500,
    "sort_name": 500,
    "disambiguation": 500,
    "artist_type": 32,
    "country": 2,
    "area": 200,
    "begin": 10,
    "end": 10,
}


def artist_upsert(*, hit: ArtistHit) -> Artist:
    """Our artist for a MusicBrainz hit, created or brought up to date with what the hit says."""
    defaults = {key: getattr(hit, key)[:length] for key, length in ARTIST_FIELDS.items()}
    artist, _ = Artist.objects.update_or_create(mbid=hit.mbid, defaults=defaults)
    return artist


def artist_for_mbid(*, mbid: str, client: MusicBrainzClient) -> Artist:
    """Our artist with this MBID, created from a MusicBrainz lookup if new (``ArtistNotFound``, ``MusicBrainzError``).

    The only way an artist comes to be, so its name is MusicBrainz's: nobody can name an artist for everyone else.
    """
    artist = Artist.objects.filter(mbid=mbid).first()
    return artist if artist is not None else artist_upsert(hit=client.get_artist(mbid))


def artist_follow(*, user: User, mbid: str, client: MusicBrainzClient, queue_sync: Queue) -> Artist:
    """Follow the artist with this MusicBrainz id, looking it up upstream if we don't know it yet."""
    mbid = parse_mbid(mbid)
    if mbid in SPECIAL_PURPOSE_ARTISTS:
        raise FollowError("That is a placeholder MusicBrainz uses for many artists, not an artist to follow.")
    try:
        artist = artist_for_mbid(mbid=mbid, client=client)
    except ArtistNotFound:
        raise FollowError("MusicBrainz doesn't know that artist.") from None
    except MusicBrainzError:
        raise FollowError("MusicBrainz isn't answering right now. Please try again in a minute.") from None
    follows_add(user=user, artists=[artist], queue_sync=queue_sync)
    return artist


@transaction.atomic
def follows_add(*, user: User, artists: list[Artist], queue_sync: Queue) -> int:
    """Follow these artists (idempotent). Artists never synced get a sync at once (``queue_sync``)."""
    Follow.objects.bulk_create([Follow(user=user, artist=a) for a in artists], ignore_conflicts=True)
    for artist in artists:
        if artist.synced_at is None:
            queue_sync(artist.pk)
    return len(artists)


def artist_unfollow(*, user: User, artist_id: int) -> bool:
    deleted, _ = Follow.objects.filter(user=user, artist_id=artist_id).delete()
    return deleted > 0


def preferences_for(*, user: User) -> ReleasePreferences:
    return ReleasePreferences.objects.filter(user=user).first() or ReleasePreferences(user=user)


def preferences_update(*, user: User, kinds: set[str], when: set[str] | None = None) -> ReleasePreferences:
    """``when``: "released" (on its day), "announced" (upcoming, newly found), or both; None leaves it as it is."""
    preferences = preferences_for(user=user)
    for field in ("album", "ep", "single", "live", "compilation", "remix", "other"):
        setattr(preferences, field, field in kinds)
    if when is not None:
        preferences.on_release_day, preferences.when_announced = "released" in when, "announced" in when
    preferences.save()
    return preferences


def outcome_list(value: object) -> list[Any]:
    """A list of an import's outcome, or [] where an older outcome has none."""
    return value if isinstance(value, list) else []


def candidate_artist(candidate: object) -> Artist | None:
    """A candidate an outcome keeps, as the unsaved artist it would be (older ones lack fields); None if not one."""
    if not isinstance(candidate, dict):
        return None
    mbid = canonical_mbid(candidate.get("mbid"))
    if mbid is None:
        return None
    fields = {
        key: value[:length] if isinstance(value := candidate.get(key), str) else ""
        for key, length in ARTIST_FIELDS.items()
    }
    if not fields["name"]:
        return None  # an artist is named by MusicBrainz or not at all
    return Artist(mbid=mbid, **fields)


# The most artists an import from each source may match: what it books of the day's MusicBrainz budget.
SOURCE_ARTISTS: dict[str, int] = {
    ImportJob.Source.LISTENBRAINZ: MAX_LISTENBRAINZ_ARTISTS,
    ImportJob.Source.LASTFM: MAX_SOURCE_ARTISTS,
    ImportJob.Source.DEEZER: MAX_SOURCE_ARTISTS,
}
SERVICE_NAMES: dict[str, str] = {source: ImportJob.Source(source).label for source in SOURCE_ARTISTS}
# A source's answers that stay the same however often asked, each with its reason in words for the user.
SAID_NO = (StatsNotReady, UnknownListenBrainzUser, UnknownLastfmUser, LastfmNotConfigured, DeezerProfileUnavailable)
SOURCE_ERRORS = (ListenBrainzError, LastfmError, DeezerError)


def import_start(
    *, user: User, source: str, query: str, queue_import: Queue, min_listens: int = 0, period: str = ""
) -> ImportJob:
    query = clean_text(query)
    if source == ImportJob.Source.NAMES:
        names = list(dict.fromkeys(line.strip()[:200] for line in query.splitlines() if line.strip()))
        if not names:
            raise FollowError("Paste at least one artist name, one per line.")
        if len(names) > MAX_IMPORT_NAMES:
            raise FollowError(f"That is {len(names)} names; at most {MAX_IMPORT_NAMES} at a time, please.")
        query = "\n".join(names)
    elif source == ImportJob.Source.DEEZER:
        query = deezer.parse_profile(query) or ""
        if not query:
            raise FollowError("Enter your Deezer profile's address (https://www.deezer.com/profile/123456) or number.")
    else:
        query = query.strip()
        service = SERVICE_NAMES.get(source, source)
        if not query or "/" in query or len(query) > 64:
            raise FollowError(f"Enter a {service} user name.")
        if source == ImportJob.Source.LASTFM and period not in lastfm.PERIODS:
            raise FollowError(f"Choose one of the periods Last.fm offers: {', '.join(lastfm.PERIODS)}.")
    if source != ImportJob.Source.LASTFM:
        period = ""
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # two posts at once: one after the other
        booking = len(query.splitlines()) if source == ImportJob.Source.NAMES else SOURCE_ARTISTS.get(source, 0)
        _import_allowed(user=user, names=booking)
        job = ImportJob.objects.create(
            user=user, source=source, query=query, min_listens=max(0, min_listens), period=period
        )
        queue_import(job.pk)
    return job


def _import_allowed(*, user: User, names: int) -> None:
    """One import at a time per account, MAX_IMPORTS_PER_HOUR an hour, and MAX_IMPORT_NAMES_PER_DAY names a day."""
    unfinished = [ImportJob.Status.PENDING, ImportJob.Status.RUNNING]
    if ImportJob.objects.filter(user=user, status__in=unfinished).exists():
        raise FollowError("Your last import is still running: start the next one when it has finished.")
    hour_ago = timezone.now() - dt.timedelta(hours=1)
    recent_starts = ImportJob.objects.filter(user=user, created_at__gte=hour_ago).order_by("created_at")
    started = list(recent_starts.values_list("created_at", flat=True)[:MAX_IMPORTS_PER_HOUR])
    if len(started) >= MAX_IMPORTS_PER_HOUR:
        wait = max(1, round((started[0] + dt.timedelta(hours=1) - timezone.now()).total_seconds() / 60))
        raise FollowError(
            f"That is {MAX_IMPORTS_PER_HOUR} imports in an hour, the most there may be: "
            f"the next one is possible in {wait} minute{'s' if wait != 1 else ''}."
        )
    since = timezone.now() - dt.timedelta(days=1)
    recent = ImportJob.objects.filter(user=user, created_at__gte=since)
    booked = sum(_booked(job) for job in recent.only("source", "query", "outcome"))
    if booked + names > MAX_IMPORT_NAMES_PER_DAY:
        raise FollowError(
            f"That would be more than {MAX_IMPORT_NAMES_PER_DAY} artists imported in a day; "
            f"{max(0, MAX_IMPORT_NAMES_PER_DAY - booked)} more are possible until this time tomorrow."
        )


def _booked(job: ImportJob) -> int:
    """The MusicBrainz budget an import took: its names, what a source gave once known, else the source's most."""
    if job.source == ImportJob.Source.NAMES:
        return len(job.query.splitlines())
    total = job.outcome.get("total") if isinstance(job.outcome, dict) else None
    most = SOURCE_ARTISTS.get(job.source, MAX_LISTENBRAINZ_ARTISTS)
    return min(total, most) if isinstance(total, int) and total >= 0 else most


def _claim(job_id: int) -> ImportJob | None:
    now = timezone.now()
    claimed = (
        ImportJob.objects.filter(pk=job_id, status__in=[ImportJob.Status.PENDING, ImportJob.Status.RUNNING])
        .exclude(leased_until__gt=now)
        .update(status=ImportJob.Status.RUNNING, leased_until=now + IMPORT_LEASE)
    )
    return ImportJob.objects.get(pk=job_id) if claimed else None


def _finish(job: ImportJob, *, status: str, message: str = "") -> bool:
    """End the import, unless its owner cancelled it meanwhile (then only its outcome so far is kept): False."""
    finished = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
        status=status, message=message, finished_at=timezone.now(), leased_until=None, outcome=job.outcome
    )
    if not finished:
        ImportJob.objects.filter(pk=job.pk).update(outcome=job.outcome, leased_until=None)
    return bool(finished)


def _save_progress(job: ImportJob) -> bool:
    """Save the outcome after a step; False when its owner cancelled the import: stop before the next name."""
    saved = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(outcome=job.outcome)
    if not saved:
        ImportJob.objects.filter(pk=job.pk).update(outcome=job.outcome, leased_until=None)
    return bool(saved)


def import_cancel(*, user: User, job_id: int) -> bool:
    """Cancel the user's import if it is not over: the task stops before its next name; what it matched stays."""
    unfinished = [ImportJob.Status.PENDING, ImportJob.Status.RUNNING]
    cancelled = ImportJob.objects.filter(pk=job_id, user=user, status__in=unfinished).update(
        status=ImportJob.Status.CANCELED, finished_at=timezone.now()
    )
    if cancelled:
        logger.info("import %s: cancelled by user %s", job_id, user.pk)
    return bool(cancelled)


def import_leftovers(*, job: ImportJob) -> list[str]:
    """The names a failed or cancelled import of a pasted list never got to: what "try again" imports."""
    if job.source != ImportJob.Source.NAMES or job.status not in (ImportJob.Status.FAILED, ImportJob.Status.CANCELED):
        return []
    pending = job.outcome.get("pending") if isinstance(job.outcome, dict) else None
    if not isinstance(pending, list):  # stopped before it began
        return job.query.splitlines()
    return [name for name in pending if isinstance(name, str)]


def import_retry(*, user: User, job_id: int, queue_import: Queue) -> ImportJob:
    """A new import of the names a failed or cancelled one left (``ImportJob.DoesNotExist``, ``FollowError``)."""
    names = import_leftovers(job=ImportJob.objects.get(pk=job_id, user=user))
    if not names:
        raise FollowError("That import has no names left to try again.")
    return import_start(user=user, source=ImportJob.Source.NAMES, query="\n".join(names), queue_import=queue_import)


def _match(name: str, hits: list[ArtistHit]) -> tuple[ArtistHit | None, list[ArtistHit]]:
    """The one artist a name means, or the candidates to choose from."""
    exact = [hit for hit in hits if hit.name.casefold() == name.casefold()]
    if len(exact) == 1:
        return exact[0], []
    return None, (exact or hits)[:5]


def import_run(
    *,
    job_id: int,
    mb_client: MusicBrainzClient,
    lb_client: ListenBrainzClient,
    queue_sync: Queue,
    seconds: float = IMPORT_SLICE_SECONDS,
    lastfm_client: LastfmClient | None = None,
    deezer_client: DeezerClient | None = None,
) -> bool:
    """Work on an import for about ``seconds``. True when it has more to do (run again).

    Safe to run twice: the job is leased and progress saved after each name, so nothing is repeated or lost.
    The Last.fm and Deezer clients are made from the settings when not given.
    """
    job = _claim(job_id)
    if job is None:
        return False
    outcome: dict[str, Any] = {"pending": None, "followed": [], "not_found": [], "ambiguous": [], **job.outcome}
    job.outcome = outcome
    if outcome["pending"] is None:
        service = SERVICE_NAMES.get(job.source, "")
        try:
            top = _source_artists(job, lb_client=lb_client, lastfm_client=lastfm_client, deezer_client=deezer_client)
            names = _first_names(job, top=top, outcome=outcome, queue_sync=queue_sync)
        except SAID_NO as error:  # the same request would fail again: the reason is the message
            _finish(job, status=ImportJob.Status.FAILED, message=str(error))
            return False
        except Exception as error:
            if isinstance(error, SOURCE_ERRORS):  # an outage, already retried: one line is the whole story
                logger.warning("import %s: %s failed: %s", job.pk, service, error)
            else:
                logger.exception("import %s: %s failed", job.pk, service)
            message = f"{service} isn't answering right now, even after a few tries. Try again in a few minutes."
            _finish(job, status=ImportJob.Status.FAILED, message=message)
            return False
        # Everything this import matches, known now: the percent a watching page shows is of this.
        outcome["pending"], outcome["total"] = names, len(outcome["followed"]) + len(names)
        if not _save_progress(job):
            return False

    deadline = time.monotonic() + seconds
    while outcome["pending"] and time.monotonic() < deadline:
        try:
            _import_one(job, outcome["pending"][0], mb_client=mb_client, outcome=outcome, queue_sync=queue_sync)
        except MusicBrainzError as error:
            # The client has retried already: MusicBrainz is down, and someone is watching. Say so now, keep what
            # was matched, and leave "try again" to them, rather than retry for minutes behind a progress bar.
            logger.warning("import %s: stopped, MusicBrainz is not answering: %.300s", job.pk, error)
            _finish(job, status=ImportJob.Status.FAILED, message=_musicbrainz_down(job, outcome))
            return False
        outcome["pending"].pop(0)
        if not _save_progress(job):
            return False

    if outcome["pending"]:
        ImportJob.objects.filter(pk=job.pk).update(leased_until=None)
        return True
    _finish(job, status=ImportJob.Status.DONE)
    return False


def _musicbrainz_down(job: ImportJob, outcome: dict[str, Any]) -> str:
    total = outcome.get("total") or 0
    matched = total - len(outcome["pending"])
    noun = "names" if job.source == ImportJob.Source.NAMES else "artists"
    kept = f" The {matched} matched before that are kept below." if matched else ""
    return (
        f"MusicBrainz isn't answering right now, so the import stopped after {matched} of {total} {noun}.{kept}"
        " Try the rest again in a few minutes."
    )


def _import_one(
    job: ImportJob,
    item: str | dict[str, str],
    *,
    mb_client: MusicBrainzClient,
    outcome: dict[str, Any],
    queue_sync: Queue,
) -> None:
    """Match one pending entry: an MBID ListenBrainz gave (looked up), or a name (searched)."""
    if isinstance(item, dict):
        try:
            artist = artist_for_mbid(mbid=item["mbid"], client=mb_client)
        except ArtistNotFound:
            outcome["not_found"].append(item["name"])
        else:
            follows_add(user=job.user, artists=[artist], queue_sync=queue_sync)
            outcome["followed"].append(artist.name)
        return
    artist_hit, candidates = _match(item, mb_client.search_artists(item, limit=10))
    if artist_hit is not None:
        follows_add(user=job.user, artists=[artist_upsert(hit=artist_hit)], queue_sync=queue_sync)
        outcome["followed"].append(artist_hit.name)
    elif candidates:
        # All a pick needs is kept, so that following one costs no second request to MusicBrainz.
        outcome["ambiguous"].append(
            {
                "name": item,
                "candidates": [{"mbid": c.mbid, **{key: getattr(c, key) for key in ARTIST_FIELDS}} for c in candidates],
            }
        )
    else:
        outcome["not_found"].append(item)


def _source_artists(
    job: ImportJob,
    *,
    lb_client: ListenBrainzClient,
    lastfm_client: LastfmClient | None,
    deezer_client: DeezerClient | None,
) -> list[TopArtist]:
    """The artists the import's source gives, at or above its minimum count; none for a pasted list."""
    if job.source == ImportJob.Source.LISTENBRAINZ:
        top = lb_client.top_artists(job.query, count=MAX_LISTENBRAINZ_ARTISTS)
        return [a for a in top if a.listen_count >= job.min_listens]
    if job.source == ImportJob.Source.LASTFM:
        client = lastfm_client or lastfm.default_client()
        return client.top_artists(
            job.query, period=job.period or "overall", min_plays=job.min_listens, most=MAX_SOURCE_ARTISTS
        )
    if job.source == ImportJob.Source.DEEZER:
        return (deezer_client or deezer.default_client()).favourite_artists(job.query, most=MAX_SOURCE_ARTISTS)
    return []


def _first_names(job: ImportJob, *, top: list[TopArtist], outcome: dict[str, Any], queue_sync: Queue) -> list[Any]:
    """What still needs MusicBrainz: MBIDs to look up, names to search. Artists we know are followed at once.

    A source's names are its users' text: they only ever become a search, never an artist's name.
    """
    if job.source == ImportJob.Source.NAMES:
        return job.query.splitlines()
    identified = {a.mbid: a.name for a in top if a.mbid and a.mbid not in SPECIAL_PURPOSE_ARTISTS}
    known = list(Artist.objects.filter(mbid__in=list(identified)))
    follows_add(user=job.user, artists=known, queue_sync=queue_sync)
    outcome["followed"].extend(a.name for a in known)
    known_mbids = {str(a.mbid) for a in known}
    to_look_up: list[Any] = [{"mbid": m, "name": n} for m, n in identified.items() if m not in known_mbids]
    return to_look_up + list(dict.fromkeys(a.name for a in top if not a.mbid and a.name.strip()))


@dataclass(frozen=True)
class ImportResolved:
    followed: list[str]
    left_out: list[str]  # the names answered "none of these"


def import_resolve(*, user: User, job_id: int, choices: dict[str, str], queue_sync: Queue) -> ImportResolved:
    """Settle a finished import's ambiguous names at once: ``choices`` is name -> MBID, or "" for none.

    Only the MBID comes from the request, and it must be one offered for the name; the row lock settles each
    name once (a double submit, two tabs), and nothing is followed unless every pick is valid.
    """
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id, user=user)
        if job.status in (ImportJob.Status.PENDING, ImportJob.Status.RUNNING):
            raise FollowError("This import is still running: choose when it has finished.")
        ambiguous = outcome_list(job.outcome.get("ambiguous"))
        waiting = {e.get("name"): e for e in ambiguous if isinstance(e, dict)}
        picked: list[Artist] = []
        settled: set[str] = set()
        left_out: list[str] = []
        for name, mbid in choices.items():
            entry = waiting.get(name)
            if entry is None or name in settled:
                continue
            settled.add(name)
            if not mbid:
                left_out.append(name)
                continue
            offered = {str(a.mbid): a for a in map(candidate_artist, outcome_list(entry.get("candidates"))) if a}
            artist = offered.get(canonical_mbid(mbid) or "")
            if artist is None:
                raise FollowError(f"Pick one of the artists offered for “{name}”, or “None of these”.")
            picked.append(artist)
        # An artist we already have stays as its own sync keeps it; a new one starts from the candidate.
        artists = [
            Artist.objects.get_or_create(mbid=a.mbid, defaults={key: getattr(a, key) for key in ARTIST_FIELDS})[0]
            for a in picked
        ]
        follows_add(user=user, artists=artists, queue_sync=queue_sync)
        job.outcome["ambiguous"] = [e for e in ambiguous if not (isinstance(e, dict) and e.get("name") in settled)]
        job.outcome["followed"] = [*outcome_list(job.outcome.get("followed")), *(a.name for a in artists)]
        job.outcome["skipped"] = [*outcome_list(job.outcome.get("skipped")), *left_out]
        job.save(update_fields=["outcome"])
    return ImportResolved(followed=[a.name for a in artists], left_out=left_out)
