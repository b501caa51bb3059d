"""The delivery ledger: one email per user per period (a local day, or an ISO week), each release at most once ever."""

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from musicdrops.catalog.models import ReleaseGroup
from musicdrops.drops.delivery_time import slot_label


class DropSend(models.Model):
    slot = models.DateTimeField(unique=True)
    started_at = models.DateTimeField(default=timezone.now)
    # Every due user has a Delivery row: until then the sweep runs the fan-out again.
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"send of {slot_label(self.slot)}"


class Delivery(models.Model):
    """One user's email for one period: due, then sent (or failed for good), claimed and recorded by ledger.py."""

    class Status(models.TextChoices):
        DUE = "due", "due"
        SENT = "sent", "sent"
        FAILED = "failed", "failed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deliveries")
    slot = models.DateTimeField()
    day = models.DateField()  # the user's local date
    period = models.CharField(max_length=10)  # "2026-12-02", or "2026-W49" for a weekly digest
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DUE)
    token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField()  # a claim's end; on a free row, when the sweep may queue it again
    queued_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["user", "period"], name="drops_one_email_per_user_period")
        ]
        indexes: ClassVar = [
            models.Index(fields=["slot", "status"], name="drops_delivery_slot_status"),
            # Small once a send is done: /healthz counts the overdue on it at every probe.
            models.Index(fields=["queued_at"], name="drops_delivery_due", condition=models.Q(status="due")),
        ]

    def __str__(self) -> str:
        return f"drop for {self.user_id}, {self.period}: {self.status}"


class DeliveredRelease(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    release_group = models.ForeignKey(ReleaseGroup, on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="releases")

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["user", "release_group"], name="drops_release_once_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.release_group_id} to {self.user_id}"
