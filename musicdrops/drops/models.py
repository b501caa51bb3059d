"""The delivery ledger: exactly one daily email per user per day, each release at most once ever."""

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from musicdrops.catalog.models import ReleaseGroup


class Delivery(models.Model):
    """One user's email for one day.

    Claimed (inserted, under a unique constraint) before anything is sent,
    by the task that will send it, with a lease; marked sent right after the
    mail server accepted the message. A redelivered task (same task id)
    takes over its own unfinished claims; any other task can only take over
    once the lease has expired — and never once ``sent_at`` is set.
    """

    class Status(models.TextChoices):
        CLAIMED = "claimed", "claimed"
        SENT = "sent", "sent"
        FAILED = "failed", "failed"  # the mail server refused the address for good

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deliveries")
    day = models.DateField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.CLAIMED)
    task_id = models.CharField(max_length=255)  # the task that holds the claim
    lease_until = models.DateTimeField()
    claimed_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints: ClassVar = [models.UniqueConstraint(fields=["user", "day"], name="drops_one_email_per_user_day")]
        indexes: ClassVar = [models.Index(fields=["day", "status"], name="drops_delivery_day_status")]

    def __str__(self) -> str:
        return f"drop for {self.user_id} on {self.day}: {self.status}"


class DeliveredRelease(models.Model):
    """A release in a user's drop. Unique per (user, release group): at most once, ever."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    release_group = models.ForeignKey(ReleaseGroup, on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="releases")

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["user", "release_group"], name="drops_release_once_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.release_group_id} to {self.user_id}"
