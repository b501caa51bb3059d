"""Starting a job someone will watch."""

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.jobs import selectors
from musicdrops.jobs.models import Job
from musicdrops.jobs.tasks import refresh_library_task

logger = logging.getLogger(__name__)

# A person may start this many refreshes an hour: each one spends the shared
# MusicBrainz budget (one request a second for the whole site).
REFRESHES_PER_HOUR = 10
# Jobs are kept this long; their results are gone after an hour anyway.
KEEP_JOBS = dt.timedelta(days=1)


class TooManyJobs(Exception):
    pass


def refresh_start(*, user: User) -> Job:
    """Start a refresh of the user's artists, or return the one still running.

    Clicking twice (or in two tabs) watches the same task instead of starting
    a second one, for as long as a page would poll it.
    """
    now = timezone.now()
    with transaction.atomic():
        # The user's row lock serialises two clicks arriving at once.
        User.objects.select_for_update().filter(pk=user.pk).first()
        recent = list(
            Job.objects.filter(
                user=user, kind=Job.Kind.REFRESH_LIBRARY, created_at__gte=now - dt.timedelta(hours=1)
            ).order_by("-created_at")
        )
        # Watch the running one again, unless the page polling it has given up
        # by now: then its message was lost (a broker outage, a Redis restarted
        # empty) or it waits behind a backlog, and a new click starts afresh.
        # The task is safe to run twice (see refresh_library_task).
        watched_since = now - dt.timedelta(seconds=settings.TASK_POLL_TIMEOUT_SECONDS)
        if recent and recent[0].created_at > watched_since and not selectors.job_status(job=recent[0]).done:
            return recent[0]
        if len(recent) >= REFRESHES_PER_HOUR:
            raise TooManyJobs(
                f"You have refreshed {REFRESHES_PER_HOUR} times in the last hour. Your artists are checked"
                " a few times a day anyway; please try again later."
            )
        Job.objects.filter(user=user, created_at__lt=now - KEEP_JOBS).delete()
        job = Job.objects.create(user=user, kind=Job.Kind.REFRESH_LIBRARY, created_at=now)
        task_id = str(job.id)
        # robust: a broker outage leaves a job that never starts; the page times out and says so.
        transaction.on_commit(
            lambda: refresh_library_task.apply_async(kwargs={"user_id": user.pk}, task_id=task_id), robust=True
        )
    logger.info("refresh %s started for user %s", task_id, user.pk)
    return job
