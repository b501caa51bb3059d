"""The Celery app, configured from the CELERY_* (and RedBeat's REDBEAT_*) settings, and how request code queues work."""

import os
from typing import Any

from celery import Celery, Task
from django.db import transaction

from musicdrops.logs import configure_celery_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "musicdrops.settings")

app = Celery("musicdrops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
configure_celery_logging()  # worker and beat log through settings.LOGGING: task id, entry and slot on every line


def enqueue_on_commit(task: Task[Any, Any], **kwargs: Any) -> None:
    """Queue ``task`` once the current transaction commits; a broker outage is logged, not an error page."""
    transaction.on_commit(lambda: task.apply_async(kwargs=kwargs), robust=True)
