"""A worker consumer that keeps the messages it refuses.

Celery acknowledges (and so drops) a message it will not run — a pickled
payload, which the JSON-only setting forbids, plain garbage, or a task this
code does not know — so that it does not loop forever. We still refuse it, but first copy it to a capped
Redis list where an operator can inspect it: nothing is lost silently.
"""

import json
import logging
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer
from django.conf import settings

from musicdrops.lib.redis import get_client

logger = logging.getLogger(__name__)


def keep_rejected_message(*, body: bytes | str, content_type: str, headers: dict[str, Any], error: str) -> None:
    raw = body.decode("latin-1") if isinstance(body, bytes) else body
    record = json.dumps(
        {"content_type": content_type, "headers": headers, "error": error, "body": raw},
        default=repr,
    )
    client = get_client()
    with client.pipeline() as pipe:
        pipe.lpush(settings.REJECTED_MESSAGES_KEY, record)
        pipe.ltrim(settings.REJECTED_MESSAGES_KEY, 0, settings.REJECTED_MESSAGES_KEPT - 1)
        pipe.execute()


class Consumer(CeleryConsumer):
    """Celery's consumer, keeping a copy of every message it will not run."""

    def _keep(self, message: Any, reason: str) -> None:
        try:
            keep_rejected_message(
                body=message.body,
                content_type=message.content_type,
                headers=dict(message.headers or {}),
                error=reason,
            )
        except Exception:
            logger.exception("could not keep a rejected message; Celery logs it below")

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        self._keep(message, f"{type(exc).__name__}: {exc}")
        super().on_decode_error(message, exc)

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        # A disallowed serializer (pickle) or a malformed task message.
        self._keep(message, f"{type(exc).__name__}: {exc}")
        super().on_invalid_task(body, message, exc)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        # A task this code does not have (renamed or removed in a deploy).
        self._keep(message, f"unknown task: {exc}")
        super().on_unknown_task(body, message, exc)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        self._keep(message, "not a task message")
        super().on_unknown_message(body, message)
