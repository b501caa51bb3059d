"""The Scheduler page in the admin: what the scheduler is doing, how /healthz judges it, and the switches for a deploy.

The page shows what `manage.py scheduler_status` shows; its buttons are POSTs (CSRF-protected by the admin) to one
thin view that calls a service. Viewing needs the view permission on "scheduler", steering the change permission.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from musicdrops.ops import health
from musicdrops.scheduler import heartbeat, selectors, services
from musicdrops.scheduler.models import SchedulerControl
from musicdrops.scheduler.schedule import SEND_ENTRY

# Entries whose run emails people: "Run now" asks again before it does that.
EMAILING_ENTRIES = frozenset({SEND_ENTRY, "sweep-music-drops"})


class ControlForm(forms.Form):
    ACTIONS = ("pause", "resume", "enable", "disable", "run_now", "acknowledge")
    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])
    entry = forms.CharField(required=False, max_length=200)
    reason = forms.CharField(required=False, max_length=200)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") in {"enable", "disable", "run_now"} and not data.get("entry"):
            raise forms.ValidationError("Which entry?")
        return data


@admin.register(SchedulerControl)
class SchedulerControlAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        control = self.admin_site.admin_view(require_POST(self.control_view))  # staff, CSRF, never cached
        return [path("control/", control, name="scheduler_control"), *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        overview = selectors.scheduler_overview()
        verdict = health.check()
        context = {
            **self.admin_site.each_context(request),
            "title": "Scheduler",
            "opts": self.model._meta,
            "overview": overview,
            # A task's dotted name split, so that the page can let it wrap at its dots and nowhere else.
            "entries": [(entry, entry.task.split(".")) for entry in overview.entries],
            "status": verdict.status,
            "problems": verdict.problems,
            "lock_key": heartbeat.lock_key(),
            "can_steer": self.has_change_permission(request),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/scheduler/status.html", context)

    def control_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        back = HttpResponseRedirect(reverse("admin:scheduler_schedulercontrol_changelist"))
        form = ControlForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Not done: " + "; ".join(m for ms in form.errors.values() for m in ms))
            return back
        action, entry, by = form.cleaned_data["action"], form.cleaned_data["entry"], request.user.get_username()
        if action == "run_now" and entry in EMAILING_ENTRIES and request.POST.get("confirm") != "yes":
            context = {**self.admin_site.each_context(request), "title": f"Run {entry} now?", "entry": entry}
            context["opts"] = self.model._meta
            return TemplateResponse(request, "admin/scheduler/confirm_run_now.html", context)
        try:
            message = self._steer(action=action, entry=entry, by=by, reason=form.cleaned_data["reason"])
        except services.EntryNotFound:
            messages.error(request, f"No entry {entry!r} in the schedule.")
            return back
        messages.success(request, message)
        return back

    @staticmethod
    def _steer(*, action: str, entry: str, by: str, reason: str) -> str:
        if action == "pause":
            done = services.schedule_pause(by=by, reason=reason)
            return "Schedule paused: the beat dispatches nothing from its next tick." if done else "Already paused."
        if action == "resume":
            done = services.schedule_resume(by=by)
            return "Schedule resumed; entries that came due meanwhile run once now." if done else "It was not paused."
        if action in {"enable", "disable"}:
            done = services.entry_set_enabled(name=entry, enabled=action == "enable", by=by)
            return f"{entry} {action}d." if done else f"{entry} was already {action}d."
        if action == "run_now":
            done = services.entry_run_now(name=entry, by=by)
            return f"{entry} will be dispatched on the beat's next tick." if done else f"{entry}: already requested."
        count = services.duplicates_acknowledge(by=by)
        return f"{count} duplicate dispatch(es) acknowledged."
