"""A worker consumer that keeps the messages it refuses.

Celery acknowledges (and so drops) a message it will not run — a pickled
payload, which the JSON-only setting forbids, plain garbage, or a task this
code does not know — so that it does not loop forever. We still refuse it, but first copy it to a capped
Redis list where an operator can inspect it: nothing is lost silently.

It also reconnects when an acknowledgement fails on a dead broker connection.
Celery only logs such a failure ("Couldn't ack"), but the Redis transport still
counts the message against the prefetch limit. With every slot held like that,
the worker never asks Redis for work again, so it never notices Redis went away:
after Redis restarts it stays up, silent, consuming nothing. Treated as the lost
connection it is, the failure makes Celery reconnect, with a new channel whose
slots are free (tests/integration/test_redis_restart.py).
"""

import json
import logging
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer
from django.conf import settings
from kombu.message import Message
from vine import promise

from musicdrops.lib.redis_client import get_client

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
    """Celery's consumer, keeping a copy of every message it will not run, and reconnecting when an ack fails."""

    # Set by Celery's consumer (and its Tasks step); celery-types does not declare them.
    hub: Any
    connection_errors: tuple[type[BaseException], ...]
    task_consumer: Any

    def call_soon_ack(self, p: Any, *args: Any, **kwargs: Any) -> Any:
        """Queue an ack or reject as Celery does; if it fails on a broken connection, reconnect.

        Celery calls this with the message's ``ack_log_error`` or ``reject_log_error`` and
        ``(logger, connection_errors[, requeue])``. Those swallow connection errors; here none
        are swallowed, so a failure reaches ``_settle_failed``.
        """
        message = getattr(p, "__self__", None)
        if self.hub is None or not isinstance(message, Message) or len(args) < 2:
            return super().call_soon_ack(p, *args, **kwargs)  # type: ignore[misc]  # no event loop: Celery's way
        log, _, *rest = args
        # Still a promise of the bound ack method: prefork runs those during a shutdown's pool join.
        settle = promise(p, (log, (), *rest), kwargs, on_error=lambda *a, **_: self._settle_failed(message, p, a[-1]))
        return super().call_soon_ack(settle)  # type: ignore[misc]  # celery-types lacks it

    def _settle_failed(self, message: Message, settle: Any, exc: Exception) -> None:
        if not isinstance(exc, self.connection_errors):
            raise exc  # as before: only connection errors were ever swallowed
        what = "ack" if settle.__name__ == "ack_log_error" else "reject"
        if not self._consuming_on(message.channel):
            # A message of a connection already replaced: its slot went with that connection's channel.
            logger.error("%s of message %s failed (%r), on a previous connection", what, message.delivery_tag, exc)
            return
        logger.error(
            "%s of message %s failed (%r): the broker connection is broken; reconnecting",
            what, message.delivery_tag, exc,
        )  # fmt: skip

        def lose_connection() -> None:
            if self._consuming_on(message.channel):  # not reconnected for another reason meanwhile
                raise exc  # a connection error from a hub timer unwinds the event loop: Celery reconnects

        # From a timer, not here: raising in the middle of the hub's ready callbacks would drop the rest of them.
        self.hub.call_later(0, lose_connection)

    def _consuming_on(self, channel: Any) -> bool:
        return channel is not None and self.task_consumer is not None and channel is self.task_consumer.channel

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
