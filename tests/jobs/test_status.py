"""The status endpoint: only the owner reads it, no cache can keep it, and it says what the task is doing."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.celery import app
from musicdrops.jobs.models import RUNS_AT_MOST, START_WITHIN, Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(user) -> Job:
    return Job.objects.create(user=user, kind=Job.Kind.REFRESH_LIBRARY)


def set_state(job: Job, state: str, figures: dict[str, int] | None = None, **fields) -> None:
    """What the task writes (musicdrops/jobs/services.py), as of now."""
    now = timezone.now()
    if state != Job.State.PENDING:
        fields.setdefault("started_at", now)
    if state in (Job.State.SUCCESS, Job.State.FAILURE):
        fields.setdefault("finished_at", now)
    Job.objects.filter(pk=job.pk).update(state=state, figures=figures or {}, **fields)


def status_of(client, job: Job, **headers):
    return client.get(reverse("jobs:status", args=[job.id]), {"nonce": "abc123"}, **headers)


def test_a_pending_job_reads_as_waiting(client, job):
    response = status_of(client, job)

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(job.id)
    assert body["state"] == "PENDING"
    assert body["done"] is False


def test_no_cache_may_keep_a_status_response(client, job):
    response = status_of(client, job)

    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-store", "no-cache", "max-age=0", "must-revalidate", "private"} <= cache_control
    assert response["Pragma"] == "no-cache"  # HTTP/1.0 caches
    assert response["Expires"]  # a date in the past, or now: stale at once for old caches
    assert "Cookie" in response["Vary"]
    assert "ETag" not in response
    assert "Last-Modified" not in response


def test_someone_elses_job_is_a_404_like_one_that_does_not_exist(client, job):
    other = User.objects.create_user("other@example.com", "another-long-password")
    client.force_login(other)

    assert status_of(client, job).status_code == 404
    assert client.get(reverse("jobs:detail", args=[job.id])).status_code == 404
    missing = Job(id="00000000-0000-0000-0000-000000000000", user=other)
    assert status_of(client, missing).status_code == 404


def test_logged_out_polling_gets_a_404_not_a_login_page(client, job):
    client.logout()

    response = status_of(client, job)

    assert response.status_code == 404


def test_malformed_job_ids_are_404s(client, user):
    assert client.get("/jobs/not-a-uuid/status/").status_code == 404
    assert client.get("/jobs/%00/status/").status_code == 404


def test_progress_is_reported_as_a_count_and_a_percentage(client, job):
    set_state(job, "PROGRESS", {"total": 5, "checked": 1, "fresh": 1, "failed": 0, "left": 0, "new_releases": 0})

    body = status_of(client, job).json()

    assert body["state"] == "PROGRESS"
    assert body["done"] is False
    assert body["progress"] == 40
    assert body["message"] == "Checked 2 of 5 artists…"


def test_a_started_job_reads_as_starting(client, job):
    set_state(job, "STARTED")

    body = status_of(client, job).json()

    assert (body["state"], body["done"], body["message"]) == ("STARTED", False, "Starting…")


def test_success_says_what_was_found(client, job):
    set_state(job, "SUCCESS", {"total": 4, "checked": 3, "fresh": 0, "failed": 1, "left": 0, "new_releases": 7})

    body = status_of(client, job).json()

    assert body["state"] == "SUCCESS"
    assert body["done"] is True
    assert dt.datetime.fromisoformat(body["finished_at"]).tzinfo is not None
    assert "3 artists checked" in body["message"]
    assert "1 could not be reached" in body["message"]
    assert "7 releases we hadn't seen before" in body["message"]


def test_a_failure_is_shown_with_the_message_the_task_wrote(client, job):
    set_state(job, "FAILURE", message="MusicBrainz is not answering right now.")

    body = status_of(client, job).json()

    assert body["state"] == "FAILURE"
    assert body["done"] is True
    assert body["message"] == "MusicBrainz is not answering right now."


def test_a_job_no_worker_took_in_time_says_it_never_started_and_is_done(client, job):
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - START_WITHIN - dt.timedelta(seconds=1))

    body = status_of(client, job).json()

    assert body["state"] == "EXPIRED"
    assert body["done"] is True
    assert "never started" in body["message"]


def test_a_job_still_running_past_its_time_limit_reads_as_a_failure(client, job):
    # Its worker was lost, or the hard time limit stopped it: nothing is left to write how it ended.
    set_state(
        job, "PROGRESS", {"total": 5, "checked": 1}, started_at=timezone.now() - RUNS_AT_MOST - dt.timedelta(seconds=1)
    )

    body = status_of(client, job).json()

    assert (body["state"], body["done"]) == ("FAILURE", True)
    assert "stopped before it could finish" in body["message"]


def test_the_job_page_works_without_javascript(client, job):
    page = client.get(reverse("jobs:detail", args=[job.id])).content.decode()

    assert 'data-testid="task-status"' in page
    assert 'data-state="PENDING"' in page
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page  # reloads itself

    set_state(job, "SUCCESS", {"total": 0})
    page = client.get(reverse("jobs:detail", args=[job.id])).content.decode()

    assert 'data-state="SUCCESS"' in page
    assert "http-equiv" not in page  # done: no more reloading
    assert "data-status-url" not in page  # nor polling


def test_a_refresh_with_nothing_to_fetch_says_everything_was_up_to_date(client, job):
    set_state(job, "SUCCESS", {"total": 1, "checked": 0, "fresh": 1, "failed": 0, "left": 0, "new_releases": 0})

    assert status_of(client, job).json()["message"] == "All done: your 1 artist was already up to date."


def test_a_session_from_before_a_password_change_cannot_poll(client, user, job):
    assert status_of(client, job).status_code == 200

    user.set_password("a-brand-new-long-password")
    user.save()

    assert status_of(client, job).status_code == 404  # as everywhere else, the old session is over


def test_a_deactivated_account_cannot_poll(client, user, job):
    User.objects.filter(pk=user.pk).update(is_active=False)

    assert status_of(client, job).status_code == 404


def test_polling_a_status_costs_two_queries_and_no_result_backend(client, job, django_assert_num_queries):
    set_state(job, "PROGRESS", {"total": 5, "checked": 2})
    status_of(client, job)  # the session is now in the cache

    with django_assert_num_queries(2):  # the user, as Django's auth loads it; the job, state and all
        assert status_of(client, job).json()["progress"] == 40
    assert app.conf.result_backend is None  # nothing of a task's is kept in Redis


def test_polls_go_through_the_whole_middleware_stack(client, job):
    response = status_of(client, job)

    assert response.status_code == 200
    assert "Content-Security-Policy" in response  # the CSP middleware, near the end, saw it
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Length"] == str(len(response.content))  # keep-alive for HTTP/1.0 clients too


def test_a_refused_poll_is_a_json_404_no_cache_keeps(client, job):
    client.logout()

    response = status_of(client, job, HTTP_ACCEPT="application/json")

    assert response.status_code == 404
    assert response.json() == {"error": "No such job"}
    assert "no-store" in response["Cache-Control"]


def test_a_poll_for_a_host_not_allowed_is_refused(client, job):
    response = client.get(reverse("jobs:status", args=[job.id]), HTTP_HOST="evil.example.com")

    assert response.status_code == 400


def test_anything_but_get_on_a_status_url_is_refused(client, job):
    assert client.post(reverse("jobs:status", args=[job.id])).status_code in (403, 405)
