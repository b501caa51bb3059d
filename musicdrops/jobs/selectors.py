"""What a watched job is doing, as the page shows it."""

import datetime as dt
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.timesince import timesince

from musicdrops.jobs.models import RUNS_AT_MOST, START_WITHIN, Job
from musicdrops.responses import JobStatus

STOPPED = "The refresh stopped before it could finish. Please try again."
CANCELLED = "Cancelled."


def _count(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _refresh_message(figures: dict[str, Any], *, done: bool) -> tuple[str, int | None]:
    total, checked, fresh, failed = (_count(figures.get(k)) for k in ("total", "checked", "fresh", "failed"))
    seen = checked + fresh + failed
    percent = round(100 * seen / total) if total else None
    if not done:
        if not total:
            return "Starting…", None
        return f"Checked {seen} of {_artists(total)}…", percent
    if not total:
        return "You don't follow any artists yet: there was nothing to refresh.", 100
    new = _count(figures.get("new_releases"))
    left = _count(figures.get("left"))
    if not checked and not failed and not left:
        return f"All done: your {_artists(fresh)} {'was' if fresh == 1 else 'were'} already up to date.", 100
    parts = [f"All done: {_artists(checked)} checked"]
    if fresh:
        parts.append(f"{fresh} already up to date")
    if failed:
        parts.append(f"{failed} could not be reached (we'll retry later)")
    if left:
        parts.append(f"{left} left for the next background sync")
    found = f"{new} release{'s' if new != 1 else ''} we hadn't seen before." if new else "nothing new found."
    return ", ".join(parts) + "; " + found, 100


def _artists(count: int) -> str:
    return f"{count} artist{'s' if count != 1 else ''}"


def job_status(*, job: Job, now: dt.datetime | None = None) -> JobStatus:
    """The job's state in the words the page shows, without a query.

    From the clock: pending past START_WITHIN never started; running past RUNS_AT_MOST was stopped or lost.
    """
    now = now or timezone.now()
    job_id = str(job.id)
    if job.state == Job.State.PENDING:
        if job.created_at < now - START_WITHIN:
            message = "This refresh never started: no worker was free to take it in time. Please try again."
            return JobStatus(job_id, "EXPIRED", True, message, None)
        return JobStatus(job_id, "PENDING", False, "Waiting for a free worker…", None)
    if job.state == Job.State.FAILURE:
        return JobStatus(job_id, "FAILURE", True, job.message or STOPPED, None, _date(job))
    if job.state == Job.State.REVOKED:
        figures = job.figures if isinstance(job.figures, dict) else {}
        total = _count(figures.get("total"))
        seen = sum(_count(figures.get(k)) for k in ("checked", "fresh", "failed"))
        message = f"Cancelled after {seen} of {_artists(total)}." if total else CANCELLED
        return JobStatus(job_id, "REVOKED", True, message, None, _date(job))
    done = job.state == Job.State.SUCCESS
    if not done and (job.started_at is None or job.started_at < now - RUNS_AT_MOST):
        return JobStatus(job_id, "FAILURE", True, STOPPED, None)
    figures = job.figures if isinstance(job.figures, dict) else {}
    message, progress = _refresh_message(figures, done=done)
    return JobStatus(job_id, job.state, done, message, progress, _date(job) if done else None)


def watched_refresh(*, user_id: int, now: dt.datetime | None = None) -> Job | None:
    """The user's latest refresh while a page would still watch it (a reload shows its progress again), else None."""
    now = now or timezone.now()
    since = now - dt.timedelta(seconds=settings.TASK_POLL_TIMEOUT_SECONDS)
    recent = Job.objects.filter(user_id=user_id, kind=Job.Kind.REFRESH_LIBRARY, created_at__gte=since)
    job = recent.order_by("-created_at").first()
    return job if job is not None and not job_status(job=job, now=now).done else None


def started_words(job: Job, *, now: dt.datetime | None = None) -> str:
    """ "just now", "40 seconds ago", "3 minutes ago": when the job was started, as the page says it."""
    seconds = int(((now or timezone.now()) - job.created_at).total_seconds())
    if seconds < 10:
        return "just now"
    if seconds < 60:
        return f"{seconds} seconds ago"
    return f"{timesince(job.created_at, now)} ago"


def _date(job: Job) -> str | None:
    return job.finished_at.isoformat() if job.finished_at else None
