"""Every task message says when it was published (and, if it waits for an ETA, until when), in its headers.

Celery's message carries neither as a number, and /healthz needs both: how
long the oldest message has waited on a queue, and whether a message a
worker holds is waiting for its ETA or stuck. Connected in musicdrops/celery.py,
which web, beat and workers (retries) all import. Imports nothing of Django.
"""

import datetime as dt
import time
from typing import Any

from celery.signals import before_task_publish

PUBLISHED_AT = "musicdrops_published_at"  # epoch seconds
ETA = "musicdrops_eta"  # epoch seconds; only on a message with an ETA or countdown


def stamp(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """``before_task_publish``: Celery publishes the very dict it hands us, so what is added here is sent."""
    if not isinstance(headers, dict):
        return  # task protocol 1 (not ours) keeps its headers in the body
    headers[PUBLISHED_AT] = time.time()  # a retry is a new wait: overwrite what the request carried over
    headers.pop(ETA, None)
    eta = headers.get("eta")
    if isinstance(eta, str):
        try:
            at = dt.datetime.fromisoformat(eta)
        except ValueError:
            return
        headers[ETA] = (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).timestamp()


def install() -> None:
    before_task_publish.connect(stamp, weak=False, dispatch_uid="musicdrops.ops.publish_time")
