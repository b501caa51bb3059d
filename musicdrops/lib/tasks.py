"""Queueing work from request code."""

import logging
from typing import Any

from celery import Task
from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(task: Task[Any, Any], **kwargs: Any) -> None:
    """Queue ``task`` once the current transaction commits.

    Queued earlier, a worker could pick the task up before the rows it needs
    are visible, or run it for a transaction that then rolls back. ``robust``
    keeps a broker outage from turning an already-committed request into an
    error page; the failure is logged, and every caller has a retry path
    (e.g. "resend the verification email").
    """
    transaction.on_commit(lambda: task.apply_async(kwargs=kwargs), robust=True)
