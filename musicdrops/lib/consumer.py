"""A worker consumer that keeps the messages it refuses.

Celery acknowledges (and so drops) a message it cannot decode — a pickled
payload, which the JSON-only setting forbids, or plain garbage — so that it
does not loop forever. We still refuse it, but first copy it to a capped
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
    def on_decode_error(self, message: Any, exc: Exception) -> None:
        try:
            keep_rejected_message(
                body=message.body,
                content_type=message.content_type,
                headers=dict(message.headers or {}),
                error=f"{type(exc).__name__}: {exc}",
            )
        except Exception:
            logger.exception("could not keep a rejected message; it is logged below")
        super().on_decode_error(message, exc)
