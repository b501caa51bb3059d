"""The scheduler's records in the admin: each slot's run, and second dispatches. The Scheduler page is ops'."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from musicdrops.admin import ReadOnlyAdmin
from musicdrops.scheduler import services
from musicdrops.scheduler.models import DuplicateDispatch, ScheduledRun


@admin.register(ScheduledRun)
class ScheduledRunAdmin(ReadOnlyAdmin):
    list_display = ("entry", "slot", "received_at", "task_id", "sent_by")
    list_filter = ("entry",)
    search_fields = ("task_id",)
    date_hierarchy = "slot"

    @admin.display(description="sent by")
    def sent_by(self, run: ScheduledRun) -> str:
        return describe_sender(run.scheduler)


@admin.register(DuplicateDispatch)
class DuplicateDispatchAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "entry", "slot", "reason", "sent_by", "first_task_id", "acknowledged_by")
    list_filter = ("reason", "entry", ("acknowledged_at", admin.EmptyFieldListFilter))
    actions = ("acknowledge",)

    @admin.display(description="sent by")
    def sent_by(self, duplicate: DuplicateDispatch) -> str:
        return describe_sender(duplicate.scheduler) or duplicate.origin

    @admin.action(description="Acknowledge: looked at, stop reporting /healthz as degraded")
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[DuplicateDispatch]) -> None:
        ids = list(queryset.values_list("id", flat=True))
        count = services.duplicates_acknowledge(by=request.user.get_username(), ids=ids)
        self.message_user(request, f"{count} duplicate dispatch(es) acknowledged.")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Needed for the action only; the records themselves stay read-only (no editable fields).
        return obj is None and super(ReadOnlyAdmin, self).has_change_permission(request, obj)


def describe_sender(identity: dict[str, Any]) -> str:
    keys = ("dyno", "host", "pid", "release", "command", "run_now_by")
    return " ".join(f"{identity[key]}" for key in keys if identity.get(key))
