import uuid

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from musicdrops.accounts.decorators import login_required
from musicdrops.accounts.models import User
from musicdrops.jobs import selectors, services, tasks
from musicdrops.jobs.models import Job
from musicdrops.responses import no_store


def _own_job(request: HttpRequest, job_id: uuid.UUID) -> Job:
    """The job, if it is the requester's; anyone else's is a 404, exactly like one that doesn't exist."""
    job = Job.objects.filter(pk=job_id, user=request.user).first() if request.user.is_authenticated else None
    if job is None:
        raise Http404("No such job")
    return job


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@login_required
@require_POST
def refresh(request: HttpRequest) -> HttpResponse:
    assert isinstance(request.user, User)
    try:
        job = services.refresh_start(user=request.user, queue_refresh=tasks.queue_refresh)
    except services.TooManyJobs as error:
        if _wants_json(request):
            return no_store(JsonResponse({"error": str(error)}, status=429))
        messages.error(request, str(error))
        return redirect("front:dashboard")
    if _wants_json(request):
        body = {
            "id": str(job.id),
            "status_url": reverse("jobs:status", args=[job.id]),
            "page_url": reverse("jobs:detail", args=[job.id]),
            "cancel_url": reverse("jobs:cancel", args=[job.id]),
            "timeout_seconds": settings.TASK_POLL_TIMEOUT_SECONDS,
        }
        return no_store(JsonResponse(body, status=202))
    return redirect("jobs:detail", job.id)


@login_required
@require_GET
def detail(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    """The job's own page: works without JavaScript (it reloads itself until the job is done)."""
    job = _own_job(request, job_id)
    status = selectors.job_status(job=job)
    context = {
        "job": job,
        "status": status,
        "started": selectors.started_words(job),
        "timeout_seconds": settings.TASK_POLL_TIMEOUT_SECONDS,
    }
    return no_store(render(request, "jobs/detail.html", context))


@login_required
@require_POST
def cancel(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    """The owner cancels a job not over yet (anyone else's: 404); the task stops at its next step."""
    assert isinstance(request.user, User)
    job = _own_job(request, job_id)
    services.refresh_cancel(user=request.user, job_id=job.pk)
    job.refresh_from_db()
    if _wants_json(request):
        return no_store(JsonResponse(selectors.job_status(job=job).as_json()))
    return redirect("jobs:detail", job.id)


@require_GET
def status(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    """JSON for the polling script. Not the owner, or logged out: 404 (never a login page)."""
    try:
        job = _own_job(request, job_id)
    except Http404:
        return no_store(JsonResponse({"error": "No such job"}, status=404))
    return no_store(JsonResponse(selectors.job_status(job=job).as_json()))
