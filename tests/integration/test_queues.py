"""Each queue is consumed by its own worker, started from the Procfile's own command line."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.accounts.tasks import clear_expired_sessions_task, send_verification_email_task
from tests.helpers import queued_tasks
from tests.integration.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

VERIFY = "musicdrops.accounts.tasks.send_verification_email_task"
CLEAR = "musicdrops.accounts.tasks.clear_expired_sessions_task"


def ran(task: str) -> str:
    """What a worker logs when it receives a task (its banner lists every task name too)."""
    return f"Task {task}["


def test_each_queue_is_consumed_by_the_worker_of_that_queue(start_process, smtp_server, redis_client):
    user = User.objects.create_user("fan@example.com", "correct-horse-battery-staple")
    Session.objects.create(session_key="s" * 32, session_data="", expire_date=timezone.now() - timedelta(days=1))
    important = start_process("worker-important", EMAIL_URL=smtp_server.url)
    important.wait_for("ready.")

    send_verification_email_task.delay(user.pk)
    clear_expired_sessions_task.delay()

    [message] = smtp_server.wait_for(1)
    assert message["To"] == "fan@example.com"
    assert message["Subject"] == "Confirm your email address"
    # The important worker leaves regular work alone, however long it waits.
    assert queued_tasks(redis_client, "regular") == [CLEAR]
    assert Session.objects.exists()

    regular = start_process("worker-regular")
    wait_until(lambda: not Session.objects.exists(), 60, "the regular worker to clear sessions", regular)
    wait_until(lambda: ran(CLEAR) in regular.output(), 10, "the regular worker to log the task", regular)

    assert queued_tasks(redis_client, "regular") == []
    assert ran(VERIFY) in important.output()
    assert ran(CLEAR) not in important.output()
    assert ran(VERIFY) not in regular.output()
