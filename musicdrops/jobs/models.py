"""Background work a person started and is watching: who owns which Celery task."""

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone


class Job(models.Model):
    """One task a user started from a page. Its id is the Celery task id.

    The owner is recorded here, not in the task's result: the status endpoint
    answers only the owner (anyone else gets a 404, as for a job that does
    not exist), and it can do so before the task has written anything.
    """

    class Kind(models.TextChoices):
        REFRESH_LIBRARY = "refresh-library", "refresh of the followed artists"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["user", "kind", "created_at"], name="jobs_user_kind_created")]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} for {self.user_id}"
