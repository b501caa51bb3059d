"""Running "refresh now": the task writes its progress and how it ended to the job's row, and is safe twice."""

import datetime as dt
import json
from collections.abc import Callable

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from musicdrops.catalog import sync
from musicdrops.jobs import selectors, services
from musicdrops.jobs.models import RUNS_AT_MOST, START_WITHIN, Job
from musicdrops.jobs.tasks import refresh_library_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(user) -> Job:
    return Job.objects.create(user=user, kind=Job.Kind.REFRESH_LIBRARY)


def sync_that(monkeypatch: pytest.MonkeyPatch, then: Callable[[], sync.RefreshResult]) -> list[int]:
    """Replace the sync (tested in tests/catalog/test_refresh.py) with one that reports progress, then ``then()``."""
    calls: list[int] = []

    def fake(*, user_id, client, seconds, on_progress):
        calls.append(user_id)
        on_progress(sync.RefreshResult(total=2))
        on_progress(sync.RefreshResult(total=2, checked=1))
        return then()

    monkeypatch.setattr(sync, "library_refresh", fake)
    return calls


def test_following_nobody_it_ends_in_success_with_its_figures(job):
    refresh_library_task(str(job.id))  # the real sync: nothing to fetch

    job.refresh_from_db()
    assert job.state == Job.State.SUCCESS
    assert job.figures == {"total": 0, "checked": 0, "fresh": 0, "failed": 0, "left": 0, "new_releases": 0}
    assert job.started_at is not None
    assert job.finished_at is not None
    assert selectors.job_status(job=job).message == "You don't follow any artists yet: there was nothing to refresh."


def test_progress_is_written_as_it_goes(job, user, monkeypatch):
    seen: list[tuple[str, dict[str, int]]] = []

    def watch():
        row = Job.objects.get(pk=job.pk)
        seen.append((row.state, row.figures))
        return sync.RefreshResult(total=2, checked=2, new_releases=3)

    calls = sync_that(monkeypatch, watch)
    refresh_library_task(str(job.id))

    assert calls == [user.pk]
    assert seen == [("PROGRESS", {"total": 2, "checked": 1, "fresh": 0, "failed": 0, "left": 0, "new_releases": 0})]
    job.refresh_from_db()
    assert (job.state, job.figures["new_releases"]) == (Job.State.SUCCESS, 3)


def test_musicbrainz_down_ends_in_failure_with_the_reason(job, monkeypatch):
    def down():
        raise sync.RefreshFailed("MusicBrainz is not answering right now.")

    sync_that(monkeypatch, down)

    with pytest.raises(sync.RefreshFailed):  # raised again: Celery logs it, in one line (throws)
        refresh_library_task(str(job.id))

    job.refresh_from_db()
    assert (job.state, job.message) == (Job.State.FAILURE, "MusicBrainz is not answering right now.")
    assert job.finished_at is not None
    status = selectors.job_status(job=job)
    assert (status.state, status.done, status.message) == ("FAILURE", True, job.message)


def test_the_soft_time_limit_ends_in_failure_saying_it_took_too_long(job, monkeypatch):
    def too_long():
        raise SoftTimeLimitExceeded()

    sync_that(monkeypatch, too_long)

    with pytest.raises(SoftTimeLimitExceeded):
        refresh_library_task(str(job.id))

    job.refresh_from_db()
    assert (job.state, job.message) == (Job.State.FAILURE, services.TOO_LONG)


def test_an_unexpected_error_ends_in_failure_without_its_internals(job, monkeypatch):
    def broken():
        raise KeyError("postgres password is hunter2")

    sync_that(monkeypatch, broken)

    with pytest.raises(KeyError):
        refresh_library_task(str(job.id))

    job.refresh_from_db()
    status = selectors.job_status(job=job)
    assert status.state == "FAILURE"
    assert "hunter2" not in json.dumps(status.as_json())
    assert "error on our side" in status.message


def test_a_finished_job_is_not_run_again(job, monkeypatch):
    calls = sync_that(monkeypatch, lambda: sync.RefreshResult(total=2, checked=2))
    refresh_library_task(str(job.id))
    finished = Job.objects.get(pk=job.pk)

    refresh_library_task(str(job.id))  # its message delivered a second time

    assert len(calls) == 1
    again = Job.objects.get(pk=job.pk)
    assert (again.state, again.finished_at) == (Job.State.SUCCESS, finished.finished_at)


def test_the_first_outcome_stays_when_two_runs_overlap(job, monkeypatch):
    def the_other_run_finished_first_then_this_one_fails():
        Job.objects.filter(pk=job.pk).update(state=Job.State.SUCCESS, finished_at=timezone.now())
        raise sync.RefreshFailed("MusicBrainz is not answering right now.")

    sync_that(monkeypatch, the_other_run_finished_first_then_this_one_fails)

    with pytest.raises(sync.RefreshFailed):
        refresh_library_task(str(job.id))

    job.refresh_from_db()
    assert (job.state, job.message) == (Job.State.SUCCESS, "")


def test_a_message_handed_out_again_after_its_worker_was_lost_runs_and_finishes(job, monkeypatch):
    Job.objects.filter(pk=job.pk).update(state=Job.State.PROGRESS, started_at=timezone.now() - dt.timedelta(seconds=5))
    calls = sync_that(monkeypatch, lambda: sync.RefreshResult(total=2, checked=2))

    refresh_library_task(str(job.id))

    assert len(calls) == 1
    assert Job.objects.get(pk=job.pk).state == Job.State.SUCCESS


@pytest.mark.parametrize(
    ("state", "age"),
    [
        (Job.State.PENDING, START_WITHIN),  # no worker took it in time: the page says it never started
        (Job.State.PROGRESS, RUNS_AT_MOST),  # past its time limit: the page says it stopped
    ],
)
def test_a_job_the_page_reads_as_over_is_not_run_late(job, monkeypatch, state, age):
    long_ago = timezone.now() - age - dt.timedelta(seconds=1)
    Job.objects.filter(pk=job.pk).update(state=state, created_at=long_ago, started_at=long_ago)
    calls = sync_that(monkeypatch, lambda: sync.RefreshResult(total=2, checked=2))
    before = selectors.job_status(job=Job.objects.get(pk=job.pk))

    refresh_library_task(str(job.id))

    assert before.done
    assert calls == []
    assert selectors.job_status(job=Job.objects.get(pk=job.pk)) == before
