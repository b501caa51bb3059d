"""What the schedulers dispatched, and the state that must outlive Redis: the pause, each entry's switch and last run
(the beat writes them back when Redis comes back empty: docs/failures/5-schedule-lost-or-stuck.md)."""

from typing import ClassVar

from django.db import models
from django.utils import timezone


class ScheduledRun(models.Model):
    entry = models.CharField(max_length=200)
    slot = models.DateTimeField()
    task_id = models.CharField(max_length=255)
    scheduler = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [models.UniqueConstraint(fields=["entry", "slot"], name="scheduler_run_once_per_slot")]

    def __str__(self) -> str:
        return f"{self.entry} @ {self.slot:%Y-%m-%d %H:%M:%S}"


class DuplicateDispatch(models.Model):
    class Reason(models.TextChoices):
        SAME_SLOT = "same-slot", "a second dispatch of a slot already run"
        FOREIGN_SCHEDULER = "foreign", "sent by a scheduler that is not ours (old code? default scheduler?)"

    entry = models.CharField(max_length=200)
    slot = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=255)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    scheduler = models.JSONField(default=dict)  # our beat's identity, when it stamped the message
    origin = models.CharField(max_length=255, blank=True)  # Celery's sender node name: pid@host
    first_task_id = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=255, blank=True)

    class Meta:
        verbose_name_plural = "duplicate dispatches"
        indexes: ClassVar = [
            # /healthz asks on every probe whether a recent one is unacknowledged.
            models.Index(
                fields=["received_at"],
                condition=models.Q(acknowledged_at__isnull=True),
                name="scheduler_dup_unacknowledged",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()}: {self.entry}"


class SchedulePause(models.Model):
    """The whole schedule paused: one row while it is, none otherwise."""

    ONLY = 1  # the row's id: a second pause finds the first, and the first one's time and reason stand

    since = models.DateTimeField(default=timezone.now)
    by = models.CharField(max_length=255)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints: ClassVar = [models.CheckConstraint(condition=models.Q(id=1), name="scheduler_one_pause")]

    def __str__(self) -> str:
        return f"paused since {self.since:%Y-%m-%d %H:%M:%S} by {self.by}"


class EntryState(models.Model):
    """One periodic entry: switched off by an operator or not, and when the beat last dispatched it."""

    name = models.CharField(max_length=200, unique=True)
    enabled = models.BooleanField(default=True)
    changed_by = models.CharField(max_length=255, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    total_run_count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} ({'enabled' if self.enabled else 'disabled'})"


class SchedulerControl(ScheduledRun):
    """No data: a proxy that gives the admin's "Scheduler" page its place in the index and its own permissions."""

    class Meta:
        proxy = True
        verbose_name = "scheduler"
        verbose_name_plural = "scheduler: beats, lock, entries, pause"
