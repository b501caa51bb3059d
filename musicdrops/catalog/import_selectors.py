"""What an import is doing and still asks, as a watched job's ``JobStatus`` (the same script as "refresh now")."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from musicdrops.catalog.models import Artist, ImportJob
from musicdrops.catalog.services import SOURCE_ARTISTS, candidate_artist, import_leftovers, outcome_list
from musicdrops.responses import JobStatus

# Watching time per entry still to match: each is a request at the one a second the whole site shares.
SECONDS_PER_ENTRY = 3
# What the page says while the source is asked (Last.fm's and Deezer's long libraries take a page a second or so).
ASKING: dict[str, str] = {
    ImportJob.Source.LISTENBRAINZ: "Asking ListenBrainz for your top artists…",
    ImportJob.Source.LASTFM: "Asking Last.fm for your top artists…",
    ImportJob.Source.DEEZER: "Asking Deezer for your favourite artists…",
}


@dataclass(frozen=True)
class Candidate:
    artist: Artist  # unsaved: the artist a pick would follow

    @property
    def mbid(self) -> str:
        return str(self.artist.mbid)

    @property
    def name(self) -> str:
        return self.artist.name

    @property
    def disambiguation(self) -> str:
        return self.artist.disambiguation

    @property
    def facts(self) -> str:
        return self.artist.facts


@dataclass(frozen=True)
class Question:
    """An ambiguous name and the artists it may mean, best match first."""

    name: str
    candidates: list[Candidate]


@dataclass(frozen=True)
class ImportSummary:
    job: ImportJob
    status: JobStatus
    questions: list[Question]  # only once the import is done: the outcome is the task's until then
    poll_seconds: int
    # The names it followed, each with the artist's page where the name is one artist the user follows.
    followed: list[tuple[str, Artist | None]] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)  # a failed or cancelled list's names never tried

    @property
    def pk(self) -> str:
        return str(self.job.pk)  # for element ids made in the template


def import_questions(*, job: ImportJob) -> list[Question]:
    """The names of a finished import (done, failed or cancelled) that wait for the user to choose, in order."""
    if job.status in (ImportJob.Status.PENDING, ImportJob.Status.RUNNING):
        return []
    questions = []
    for entry in outcome_list(_outcome(job).get("ambiguous")):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        artists = map(candidate_artist, outcome_list(entry.get("candidates")))
        candidates = [Candidate(artist) for artist in artists if artist is not None]
        if candidates:
            questions.append(Question(name=entry["name"], candidates=candidates))
    return questions


def import_total(outcome: dict[str, Any]) -> int:
    """How many entries the import matches: recorded when they were first known, else counted."""
    total = outcome.get("total")
    if isinstance(total, int) and total >= 0:
        return total
    lists = ("pending", "followed", "not_found", "ambiguous", "skipped")
    return sum(len(outcome_list(outcome.get(key))) for key in lists)


def import_status(*, job: ImportJob) -> JobStatus:
    """The import's state, in the words and shape the watching page shows."""
    outcome = _outcome(job)
    job_id = str(job.pk)
    if job.status == ImportJob.Status.FAILED:
        message = job.message or "The import stopped because of an error on our side."
        return JobStatus(job_id, "FAILURE", True, message, None, _date(job))
    if job.status == ImportJob.Status.PENDING:
        return JobStatus(job_id, "PENDING", False, "Waiting for a free worker…", None)
    counts = {key: len(outcome_list(outcome.get(key))) for key in ("followed", "ambiguous", "not_found", "skipped")}
    total = import_total(outcome)
    noun = "name" if job.source == ImportJob.Source.NAMES else "artist"
    if job.status == ImportJob.Status.CANCELED:
        pending = outcome.get("pending")
        matched = max(0, total - len(pending)) if isinstance(pending, list) else 0
        message = f"Cancelled after matching {matched} of {_count(total, noun)}; what it matched is kept below."
        return JobStatus(job_id, "REVOKED", True, message if total else "Cancelled.", None, _date(job))
    if job.status == ImportJob.Status.RUNNING:
        pending = outcome.get("pending")
        if not isinstance(pending, list):
            first = ASKING.get(job.source, "Starting…")
            return JobStatus(job_id, "PROGRESS", False, first, None)
        matched = max(0, total - len(pending))
        message = (
            f"Matched {matched} of {_count(total, noun)} on MusicBrainz: {counts['followed']} followed, "
            f"{counts['ambiguous']} to choose, {counts['not_found']} not found…"
        )
        return JobStatus(job_id, "PROGRESS", False, message, round(100 * matched / total) if total else None)
    parts = [f"{counts['followed']} followed"]
    if counts["ambiguous"]:
        parts.append(f"{counts['ambiguous']} to choose below")
    if counts["skipped"]:
        parts.append(f"{counts['skipped']} left out")
    if counts["not_found"]:
        parts.append(f"{counts['not_found']} not found")
    message = f"All done: {_count(total, noun)} matched: {', '.join(parts)}."
    return JobStatus(job_id, "SUCCESS", True, message, 100, _date(job))


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def _date(job: ImportJob) -> str | None:
    return job.finished_at.isoformat() if job.finished_at else None


def import_poll_seconds(*, job: ImportJob) -> int:
    """How long a page watches the import before saying it takes longer than it should."""
    pending = _outcome(job).get("pending")
    if isinstance(pending, list):
        left = len(pending)
    elif job.source == ImportJob.Source.NAMES:
        left = len(job.query.splitlines())
    else:
        left = SOURCE_ARTISTS.get(job.source, 0)
    return int(settings.TASK_POLL_TIMEOUT_SECONDS) + SECONDS_PER_ENTRY * left


def import_summaries(*, jobs: Iterable[ImportJob]) -> list[ImportSummary]:
    jobs = list(jobs)
    pages = _followed_artists(jobs)
    return [
        ImportSummary(
            job=job,
            status=import_status(job=job),
            questions=import_questions(job=job),
            poll_seconds=import_poll_seconds(job=job),
            followed=[(name, pages.get(name)) for name in _followed_names(job)],
            leftovers=import_leftovers(job=job),
        )
        for job in jobs
    ]


def _followed_names(job: ImportJob) -> list[str]:
    return [name for name in outcome_list(_outcome(job).get("followed")) if isinstance(name, str)]


def _outcome(job: ImportJob) -> dict[str, Any]:
    """The job's outcome, or {} where the row holds anything else: what reads it never fails on it."""
    return job.outcome if isinstance(job.outcome, dict) else {}


def _followed_artists(jobs: list[ImportJob]) -> dict[str, Artist]:
    """Each followed name that is exactly one artist its importer follows, in one query for all the imports.

    The outcome keeps names (as MusicBrainz has them), not ids: a name two followed artists share gets no link.
    """
    names = {name for job in jobs for name in _followed_names(job)}
    if not names:
        return {}
    found: dict[str, list[Artist]] = defaultdict(list)
    users = {job.user_id for job in jobs}
    for artist in Artist.objects.filter(follows__user_id__in=users, name__in=names).only("name", "mbid"):
        found[artist.name].append(artist)
    return {name: artists[0] for name, artists in found.items() if len(artists) == 1}
