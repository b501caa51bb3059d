"""Starting "refresh now": one task per click, on the important queue, owned by whoever clicked."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.jobs import services, tasks
from musicdrops.jobs.models import KEEP_JOBS, Job
from tests.helpers import queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)


def test_without_javascript_the_button_posts_and_redirects_to_the_jobs_page(client, user, redis_client):
    response = client.post(reverse("jobs:refresh"))

    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("jobs:detail", args=[job.id])
    assert job.user == user
    assert queued_tasks(redis_client, "important") == ["musicdrops.jobs.tasks.refresh_library_task"]
    message = redis_client.lindex("important", 0)
    assert message is not None
    assert str(job.id) in message  # the task id is the job id: its status is the job's


def test_with_javascript_it_answers_json_with_where_to_poll(client, user):
    response = client.post(reverse("jobs:refresh"), headers={"Accept": "application/json"})

    job = Job.objects.get()
    assert response.status_code == 202
    assert response.json()["status_url"] == reverse("jobs:status", args=[job.id])
    assert "no-store" in response["Cache-Control"]


def test_clicking_again_while_it_runs_watches_the_same_task(client, user, redis_client):
    first = client.post(reverse("jobs:refresh"), headers={"Accept": "application/json"}).json()
    second = client.post(reverse("jobs:refresh"), headers={"Accept": "application/json"}).json()

    assert first["id"] == second["id"]
    assert redis_client.llen("important") == 1

    Job.objects.filter(pk=first["id"]).update(state=Job.State.SUCCESS, started_at=timezone.now())
    third = client.post(reverse("jobs:refresh"), headers={"Accept": "application/json"}).json()

    assert third["id"] != first["id"]  # the first one ended: a new click is a new refresh


def test_a_job_nobody_ran_within_the_poll_time_out_is_not_watched_again(client, user, redis_client, settings):
    # Its message was lost (a broker outage at enqueue, a Redis that restarted
    # empty): the page gave up polling, and clicking again must start afresh.
    first = client.post(reverse("jobs:refresh"), headers={"Accept": "application/json"}).json()
    redis_client.delete("important")
    Job.objects.filter(pk=first["id"]).update(
        created_at=timezone.now() - dt.timedelta(seconds=settings.TASK_POLL_TIMEOUT_SECONDS + 1)
    )

    second = client.post(reverse("jobs:refresh"), headers={"Accept": "application/json"}).json()

    assert second["id"] != first["id"]
    assert queued_tasks(redis_client, "important") == ["musicdrops.jobs.tasks.refresh_library_task"]


def test_refreshes_per_hour_are_limited_with_a_clear_message(client, user):
    for _ in range(services.REFRESHES_PER_HOUR):
        job = services.refresh_start(user=user, queue_refresh=tasks.queue_refresh)
        Job.objects.filter(pk=job.pk).update(state=Job.State.SUCCESS, started_at=timezone.now())

    response = client.post(reverse("jobs:refresh"), headers={"Accept": "application/json"})
    page = client.post(reverse("jobs:refresh"), follow=True).content.decode()

    assert response.status_code == 429
    assert "times in the last hour" in response.json()["error"]
    assert "times in the last hour" in page
    assert Job.objects.count() == services.REFRESHES_PER_HOUR


def test_a_click_deletes_everyones_jobs_older_than_a_day(client, user):
    other = User.objects.create_user("other@example.com", "another-long-password")
    old = timezone.now() - KEEP_JOBS - dt.timedelta(minutes=1)
    Job.objects.create(user=other, kind=Job.Kind.REFRESH_LIBRARY, created_at=old)
    kept = Job.objects.create(
        user=other, kind=Job.Kind.REFRESH_LIBRARY, created_at=timezone.now() - dt.timedelta(hours=2)
    )

    clicked = client.post(reverse("jobs:refresh"), headers={"Accept": "application/json"}).json()

    assert {str(pk) for pk in Job.objects.values_list("pk", flat=True)} == {str(kept.pk), clicked["id"]}


def test_refresh_needs_a_post_with_a_csrf_token(user):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)

    assert strict.get(reverse("jobs:refresh")).status_code == 405
    assert strict.post(reverse("jobs:refresh")).status_code == 403
    assert Job.objects.count() == 0


def test_logged_out_refresh_goes_to_the_login_page(client):
    response = client.post(reverse("jobs:refresh"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert Job.objects.count() == 0
