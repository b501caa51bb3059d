"""Results only where someone reads them, and every one of them expires: real workers, a real Redis."""

import pytest
from django.conf import settings

from musicdrops.accounts.models import User
from musicdrops.accounts.tasks import clear_expired_sessions_task
from musicdrops.jobs.tasks import refresh_library_task
from tests.integration.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CLEAR = "musicdrops.accounts.tasks.clear_expired_sessions_task"
TASKS = 50


def successes(output: str, task: str) -> int:
    return sum(1 for line in output.splitlines() if f"Task {task}[" in line and " succeeded " in line)


def test_only_a_result_someone_reads_is_stored_and_it_expires(start_process, redis_client):
    regular = start_process("worker-regular")
    important = start_process("worker-important", MUSICBRAINZ_URL="http://127.0.0.1:9/ws/2")
    regular.wait_for("ready.")
    important.wait_for("ready.")

    for _ in range(TASKS):
        clear_expired_sessions_task.delay()
    # The one task whose result a page polls ("refresh now"); following nobody, it succeeds at once.
    user = User.objects.create_user("fan@example.com", "correct-horse-battery-staple")
    watched = refresh_library_task.delay(user.pk)

    wait_until(lambda: successes(regular.output(), CLEAR) == TASKS, 60, f"{TASKS} tasks", regular)
    assert watched.get(timeout=30) is not None

    result_keys = redis_client.keys("celery-task-meta-*")
    assert result_keys == [f"celery-task-meta-{watched.id}"]
    assert 0 < redis_client.ttl(result_keys[0]) <= settings.CELERY_RESULT_EXPIRES
