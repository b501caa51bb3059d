import logging
from typing import Any

from celery import Task
from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(task: Task[Any, Any], **kwargs: Any) -> None:
    """Queue ``task`` once the current transaction commits; a broker outage is logged, not an error page."""
    transaction.on_commit(lambda: task.apply_async(kwargs=kwargs), robust=True)
