"""What a watched job is doing, as the page shows it."""

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from celery import current_app
from django.conf import settings
from django.utils import timezone

from musicdrops.jobs.models import Job


@dataclass(frozen=True)
class JobStatus:
    id: str
    state: str  # PENDING, STARTED, PROGRESS, SUCCESS, FAILURE, REVOKED or EXPIRED
    done: bool
    message: str
    progress: int | None  # percent, when known
    finished_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


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
    """Read the job's task state from the result backend: one Redis read, none once it succeeded.

    ``AsyncResult.state`` and then ``.info`` would read Redis twice while the
    task runs, which is when pages poll. The backend keeps a successful
    result in memory, so a finished job costs no read at all.
    """
    job_id = str(job.id)
    meta: dict[str, Any] = current_app.backend.get_task_meta(job_id)
    state: str = meta["status"]
    if state == "PENDING":
        age = (now or timezone.now()) - job.created_at
        if age > dt.timedelta(seconds=settings.CELERY_RESULT_EXPIRES):
            return JobStatus(
                job_id, "EXPIRED", True, "This refresh is over an hour old; its result is no longer kept.", None
            )
        return JobStatus(job_id, "PENDING", False, "Waiting for a free worker…", None)
    if state == "FAILURE":
        error = meta["result"]  # the exception, rebuilt by the backend
        message = (
            str(error)
            if type(error).__name__ == "RefreshFailed"
            else "The refresh stopped because of an error on our side. It has been logged; please try again later."
        )
        return JobStatus(job_id, "FAILURE", True, message, None, _date(meta))
    if state == "REVOKED":
        return JobStatus(job_id, "REVOKED", True, "The refresh was cancelled.", None)
    figures = meta["result"] if isinstance(meta["result"], dict) else {}
    done = state == "SUCCESS"
    message, progress = _refresh_message(figures, done=done)
    return JobStatus(job_id, state, done, message, progress, _date(meta) if done else None)


def _date(meta: dict[str, Any]) -> str | None:
    finished = meta.get("date_done")
    if isinstance(finished, str):
        return finished
    return finished.isoformat() if isinstance(finished, dt.datetime) else None
