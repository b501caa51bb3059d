"""Background work a person started and is watching: who owns it, and how far it got."""

import datetime as dt
import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

# A job no worker took within this long never runs (the task refuses it), and the page says so.
START_WITHIN = dt.timedelta(minutes=10)
# The task's hard time limit: a job still running after it was stopped, or lost with its worker.
RUNS_AT_MOST = dt.timedelta(seconds=120)
KEEP_JOBS = dt.timedelta(days=1)


class Job(models.Model):
    """A task a user started from a page, and its state: written here, not to a result backend. Its id is the task's."""

    class Kind(models.TextChoices):
        REFRESH_LIBRARY = "refresh-library", "refresh of the followed artists"

    # Celery's names, which the page (data-state) and its script know.
    class State(models.TextChoices):
        PENDING = "PENDING", "waiting for a worker"
        STARTED = "STARTED", "started"
        PROGRESS = "PROGRESS", "running"
        SUCCESS = "SUCCESS", "done"
        FAILURE = "FAILURE", "failed"
        REVOKED = "REVOKED", "cancelled"  # by its owner: the task stops at its next step

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    figures = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)  # why it failed, in words for the user

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["user", "kind", "created_at"], name="jobs_user_kind_created"),
            models.Index(fields=["created_at"], name="jobs_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} for {self.user_id}"


UNFINISHED = (Job.State.PENDING, Job.State.STARTED, Job.State.PROGRESS)
