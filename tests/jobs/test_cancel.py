"""Its owner cancels "refresh now": the row says so, and the task stops before its next artist."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from musicdrops.catalog import sync
from musicdrops.jobs import selectors
from musicdrops.jobs.models import Job
from musicdrops.jobs.tasks import refresh_library_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(user) -> Job:
    return Job.objects.create(user=user, kind=Job.Kind.REFRESH_LIBRARY)


def test_cancelled_while_it_runs_it_stops_before_the_next_artist(client, job, monkeypatch):
    checked: list[int] = []

    def refresh(*, user_id, client: object, seconds, on_progress):
        result = sync.RefreshResult(total=3)
        on_progress(result)
        for artist in range(3):
            checked.append(artist)
            result.checked += 1
            if artist == 0:  # the owner presses "Cancel" while the first artist is fetched
                response = post_cancel(job)
                assert response.status_code == 302
            on_progress(result)
        return result

    monkeypatch.setattr(sync, "library_refresh", refresh)
    refresh_library_task(str(job.id))

    assert checked == [0]
    job.refresh_from_db()
    assert job.state == Job.State.REVOKED
    status = selectors.job_status(job=job)
    assert (status.state, status.done, status.message) == ("REVOKED", True, "Cancelled after 1 of 3 artists.")


def post_cancel(job: Job, **headers: str):
    from django.test import Client

    owner = Client()
    owner.force_login(job.user)
    return owner.post(reverse("jobs:cancel", args=[job.id]), headers=headers)


def test_a_job_cancelled_before_a_worker_took_it_never_runs(client, job, monkeypatch):
    response = client.post(reverse("jobs:cancel", args=[job.id]), headers={"Accept": "application/json"})

    assert response.json()["state"] == "REVOKED"
    assert response.json()["done"] is True
    monkeypatch.setattr(sync, "library_refresh", lambda **kwargs: pytest.fail("a cancelled job ran"))
    refresh_library_task(str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.REVOKED


def test_a_finished_job_stays_as_it_ended(client, job):
    Job.objects.filter(pk=job.pk).update(state=Job.State.SUCCESS, finished_at=timezone.now())

    client.post(reverse("jobs:cancel", args=[job.id]))

    job.refresh_from_db()
    assert job.state == Job.State.SUCCESS


def test_only_its_owner_can_cancel_it_and_only_with_a_post(client, job, django_user_model):
    assert client.get(reverse("jobs:cancel", args=[job.id])).status_code == 405
    other = django_user_model.objects.create_user("other@example.com", "pw-other-1234")
    client.force_login(other)

    assert client.post(reverse("jobs:cancel", args=[job.id])).status_code == 404
    job.refresh_from_db()
    assert job.state == Job.State.PENDING


def test_a_reload_of_the_dashboard_shows_the_running_refresh_again(client, user, job):
    from musicdrops.catalog.models import Artist, Follow

    artist = Artist.objects.create(mbid="00000000-0000-4000-8000-000000000001", name="Sigur Rós")
    Follow.objects.create(user=user, artist=artist)
    Job.objects.filter(pk=job.pk).update(
        state=Job.State.PROGRESS, started_at=timezone.now(), figures={"total": 4, "checked": 1}
    )

    page = client.get(reverse("front:dashboard")).content.decode()

    assert f'data-status-url="{reverse("jobs:status", args=[job.id])}"' in page
    assert "Checked 1 of 4 artists…" in page
    assert f'action="{reverse("jobs:cancel", args=[job.id])}"' in page


def test_the_jobs_page_says_just_now_not_0_minutes(client, job):
    page = client.get(reverse("jobs:detail", args=[job.id])).content.decode()
    assert "Started just now." in page
    assert "0 minutes" not in page
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(seconds=40))
    assert re.search(r"Started 4\d seconds ago\.", client.get(reverse("jobs:detail", args=[job.id])).content.decode())
