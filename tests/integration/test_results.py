"""No task result is kept in Redis: a watched task's state is its row in PostgreSQL. Real workers, a real Redis."""

import pytest

from musicdrops.accounts.models import User
from musicdrops.accounts.tasks import clear_expired_sessions_task
from musicdrops.jobs.models import Job
from musicdrops.jobs.tasks import refresh_library_task
from tests.integration.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CLEAR = "musicdrops.accounts.tasks.clear_expired_sessions_task"
TASKS = 50


def successes(output: str, task: str) -> int:
    return sum(1 for line in output.splitlines() if f"Task {task}[" in line and " succeeded " in line)


def test_no_result_is_stored_and_a_watched_task_ends_in_its_row(start_process, redis_client):
    regular = start_process("worker-regular")
    important = start_process("worker-important", MUSICBRAINZ_URL="http://127.0.0.1:9/ws/2")
    regular.wait_for("ready.")
    important.wait_for("ready.")

    for _ in range(TASKS):
        clear_expired_sessions_task.delay()
    # The one task a page watches ("refresh now"); following nobody, it succeeds at once.
    user = User.objects.create_user("fan@example.com", "correct-horse-battery-staple")
    job = Job.objects.create(user=user, kind=Job.Kind.REFRESH_LIBRARY)
    refresh_library_task.apply_async(kwargs={"job_id": str(job.id)}, task_id=str(job.id))

    wait_until(lambda: successes(regular.output(), CLEAR) == TASKS, 60, f"{TASKS} tasks", regular)
    wait_until(lambda: Job.objects.get(pk=job.pk).state == Job.State.SUCCESS, 30, "the refresh's row", important)

    assert Job.objects.get(pk=job.pk).figures["total"] == 0
    assert redis_client.keys("celery-task-meta-*") == []
    assert redis_client.pubsub_numsub(f"celery-task-meta-{job.id}") == [(f"celery-task-meta-{job.id}", 0)]
