"""The worker's consumer: refused messages kept for an operator (docs/failures/6-pickle.md); a failed ack reconnects."""

import json
import logging
from typing import Any

from celery import signals
from celery.worker.consumer import Consumer as CeleryConsumer
from django.conf import settings
from kombu.message import Message
from vine import promise

from musicdrops.redis_client import get_client

logger = logging.getLogger(__name__)


def keep_rejected_message(*, message: Message, error: str) -> None:
    body = message.body
    record = json.dumps(
        {
            "content_type": message.content_type,
            "headers": dict(message.headers or {}),
            "error": error,
            "body": body.decode("latin-1") if isinstance(body, bytes) else body,
        },
        default=repr,
    )
    try:
        with get_client().pipeline() as pipe:
            pipe.lpush(settings.REJECTED_MESSAGES_KEY, record)
            pipe.ltrim(settings.REJECTED_MESSAGES_KEY, 0, settings.REJECTED_MESSAGES_KEPT - 1)
            pipe.execute()
    except Exception:
        logger.exception("could not keep a rejected message; Celery logged it above")


@signals.task_rejected.connect
def _keep_rejected(message: Message, exc: Exception | None, **_: Any) -> None:
    keep_rejected_message(message=message, error=f"{type(exc).__name__}: {exc}" if exc else "not a task message")


@signals.task_unknown.connect
def _keep_unknown(message: Message, exc: Exception, **_: Any) -> None:
    keep_rejected_message(message=message, error=f"unknown task: {exc}")


class Consumer(CeleryConsumer):
    # Set by Celery's consumer; celery-types does not declare them.
    hub: Any
    connection_errors: tuple[type[BaseException], ...]
    task_consumer: Any

    def on_decode_error(self, message: Message, exc: Exception) -> None:
        # Celery's one refusal without a signal (https://github.com/celery/celery/issues/4308): send task_rejected.
        super().on_decode_error(message, exc)
        signals.task_rejected.send(sender=self, message=message, exc=exc)

    def call_soon_ack(self, p: Any, *args: Any, **kwargs: Any) -> Any:
        # kombu keeps a failed ack's prefetch slot; raise to reconnect: https://github.com/celery/celery/issues/9054
        message = getattr(p, "__self__", None)
        if self.hub is None or not isinstance(message, Message):
            return super().call_soon_ack(p, *args, **kwargs)  # type: ignore[misc]  # celery-types lacks it
        log, _connection_errors, *rest = args
        # Still a promise of the bound ack method: prefork runs those itself during a shutdown's pool join.
        settle = promise(p, (log, (), *rest), kwargs, on_error=lambda *a, **_: self._settle_failed(message, a[-1]))
        return super().call_soon_ack(settle)  # type: ignore[misc]

    def _settle_failed(self, message: Message, exc: Exception) -> None:
        if not isinstance(exc, self.connection_errors):
            raise exc
        logger.error("ack or reject of message %s failed: %r", message.delivery_tag, exc)

        def lose_connection() -> None:
            if self.task_consumer is not None and message.channel is self.task_consumer.channel:  # not yet replaced
                raise exc  # a connection error from a hub timer stops the event loop: Celery reconnects

        self.hub.call_later(0, lose_connection)  # raising here would drop the hub's other ready callbacks
