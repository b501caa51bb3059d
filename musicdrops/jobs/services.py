"""Starting a job someone will watch, and running it with its progress in the job's row."""

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog import sync
from musicdrops.catalog.musicbrainz import MusicBrainzClient
from musicdrops.jobs import selectors
from musicdrops.jobs.models import KEEP_JOBS, RUNS_AT_MOST, START_WITHIN, Job

logger = logging.getLogger(__name__)

Queue = Callable[[uuid.UUID], None]

# Each refresh spends the site's shared MusicBrainz budget (one request a second).
REFRESHES_PER_HOUR = 10

TOO_LONG = "The refresh took too long and was stopped. Please try again in a few minutes."
OUR_SIDE = "The refresh stopped because of an error on our side. It has been logged; please try again later."


class TooManyJobs(Exception):
    pass


class Cancelled(Exception):
    """Its owner cancelled the job: the task stops at its next step."""


def refresh_start(*, user: User, queue_refresh: Queue) -> Job:
    """Start a refresh of the user's artists, or return the one still running (a second click watches it too)."""
    now = timezone.now()
    with transaction.atomic():
        # The user's row lock serialises two clicks arriving at once.
        User.objects.select_for_update().filter(pk=user.pk).first()
        recent = list(
            Job.objects.filter(
                user=user, kind=Job.Kind.REFRESH_LIBRARY, created_at__gte=now - dt.timedelta(hours=1)
            ).order_by("-created_at")
        )
        # Past the page's poll timeout its message was lost or waits behind a backlog: start afresh.
        watched_since = now - dt.timedelta(seconds=settings.TASK_POLL_TIMEOUT_SECONDS)
        if recent and recent[0].created_at > watched_since and not selectors.job_status(job=recent[0], now=now).done:
            return recent[0]
        if len(recent) >= REFRESHES_PER_HOUR:
            raise TooManyJobs(
                f"You have refreshed {REFRESHES_PER_HOUR} times in the last hour. Your artists are checked"
                " a few times a day anyway; please try again later."
            )
        job = Job.objects.create(user=user, kind=Job.Kind.REFRESH_LIBRARY, created_at=now)
        queue_refresh(job.id)
    # Everyone's old jobs, not only this user's: the table keeps about a day of clicks.
    Job.objects.filter(created_at__lt=now - KEEP_JOBS).delete()
    logger.info("refresh %s started for user %s", job.id, user.pk)
    return job


def refresh_run(*, job_id: str, client: MusicBrainzClient, seconds: float) -> None:
    """Sync the job's user's artists, writing its progress and then its outcome (any error: FAILURE, re-raised).

    Safe twice or concurrently: it claims only a job not over, every write is conditional on it being unfinished,
    and the sync leases each artist.
    """
    user_id = _claim(job_id)
    if user_id is None:
        logger.info("refresh %s is over or never started in time: not run", job_id)
        return
    try:
        result = sync.library_refresh(
            user_id=user_id,
            client=client,
            seconds=seconds,
            on_progress=lambda progress: _report(job_id, progress),
        )
    except Cancelled:
        logger.debug("refresh %s stopped: its owner cancelled it", job_id)
        return
    except sync.RefreshFailed as error:
        _finish(job_id, state=Job.State.FAILURE, message=str(error))
        raise
    except SoftTimeLimitExceeded:
        _finish(job_id, state=Job.State.FAILURE, message=TOO_LONG)
        raise
    except Exception:
        _finish(job_id, state=Job.State.FAILURE, message=OUR_SIDE)
        raise
    _finish(job_id, state=Job.State.SUCCESS, figures=asdict(result))


def _claim(job_id: str) -> int | None:
    """Mark the job started, if job_status still reads it as not over: its user's id, else None."""
    now = timezone.now()
    waiting = Q(state=Job.State.PENDING, created_at__gte=now - START_WITHIN)
    # Running, within the time limit: a message handed out again after its worker was lost.
    running = Q(state__in=[Job.State.STARTED, Job.State.PROGRESS], started_at__gte=now - RUNS_AT_MOST)
    claimed = Job.objects.filter(waiting | running, pk=job_id).update(state=Job.State.STARTED, started_at=now)
    if not claimed:
        return None
    return Job.objects.values_list("user_id", flat=True).get(pk=job_id)


def refresh_cancel(*, user: User, job_id: uuid.UUID) -> bool:
    """Cancel the user's job if it is not over: its row says so, and the task stops at its next step (``_report``)."""
    unfinished = [Job.State.PENDING, Job.State.STARTED, Job.State.PROGRESS]
    cancelled = Job.objects.filter(pk=job_id, user=user, state__in=unfinished).update(
        state=Job.State.REVOKED, finished_at=timezone.now()
    )
    if cancelled:
        logger.info("refresh %s: cancelled by user %s", job_id, user.pk)
    return bool(cancelled)


def _report(job_id: str, progress: sync.RefreshResult) -> None:
    """Write the progress; raise ``Cancelled`` when the row says the owner cancelled (between two artists)."""
    running = [Job.State.STARTED, Job.State.PROGRESS]
    updated = Job.objects.filter(pk=job_id, state__in=running).update(
        state=Job.State.PROGRESS, figures=asdict(progress)
    )
    if not updated and Job.objects.filter(pk=job_id, state=Job.State.REVOKED).exists():
        # The figures so far, for the page's "cancelled after 3 of 12 artists".
        Job.objects.filter(pk=job_id).update(figures=asdict(progress))
        raise Cancelled(job_id)


def _finish(job_id: str, *, state: str, **fields: Any) -> None:
    running = [Job.State.STARTED, Job.State.PROGRESS]
    Job.objects.filter(pk=job_id, state__in=running).update(state=state, finished_at=timezone.now(), **fields)
