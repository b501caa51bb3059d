"""The worker's consumer: no message stops it or vanishes (docs/failures/6-pickle.md); a lost Redis reconnects it.

What Celery refuses (pickle, a bad body, an unknown task) comes through its signals, arguments the task cannot take
through ``task_failure``; what its handler cannot take apart through the two patches docs/framework-patches.md lists.
"""

import inspect
import logging
from typing import Any

from celery import Task, signals
from celery.worker.consumer import Consumer as CeleryConsumer
from kombu.message import Message
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from vine import promise

from musicdrops.rejected_messages import rejected_message_keep

logger = logging.getLogger(__name__)

TRANSPORT = "musicdrops.consumer:Transport"  # the worker's own reading connection only: see Consumer


def keep_rejected_message(*, message: Message, error: str) -> None:
    delivery_info = message.delivery_info or {}
    rejected_message_keep(
        error=error,
        queue=delivery_info.get("routing_key") if isinstance(delivery_info, dict) else None,
        body=message.body,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        headers=message.headers,
    )


@signals.task_rejected.connect
def _keep_rejected(message: Message, exc: Exception | None, **_: Any) -> None:
    keep_rejected_message(message=message, error=f"{type(exc).__name__}: {exc}" if exc else "not a task message")


@signals.task_unknown.connect
def _keep_unknown(message: Message, exc: Exception, **_: Any) -> None:
    keep_rejected_message(message=message, error=f"unknown task: {exc}")


@signals.task_failure.connect
def _keep_unfit_arguments(
    sender: Task[Any, Any], task_id: str, exception: BaseException, args: Any, kwargs: Any, **_: Any
) -> None:
    """A TypeError from arguments the task cannot take: the message is kept, a failure inside the task is not."""
    if not isinstance(exception, TypeError) or arguments_fit(sender, args, kwargs):
        return
    request = sender.request
    delivery_info = request.delivery_info or {}
    rejected_message_keep(
        error=f"arguments the task cannot take: TypeError: {exception}",
        queue=delivery_info.get("routing_key"),
        body=[args, kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}],
        content_type="application/json",
        content_encoding="utf-8",
        headers={
            "lang": "py",
            "task": sender.name,
            "id": task_id,
            "retries": request.retries or 0,
            "root_id": request.root_id,
            "parent_id": request.parent_id,
            "argsrepr": repr(args),
            "kwargsrepr": repr(kwargs),
        },
    )


def arguments_fit(task: Task[Any, Any], args: Any, kwargs: Any) -> bool:
    if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
        return False
    try:
        inspect.signature(task.run).bind(*args, **kwargs)
    except TypeError:
        return False
    return True


class NotAMessage(Exception):
    """A list item that is JSON but no message envelope kombu can read."""

    def __init__(self, item: object, why: str) -> None:
        super().__init__(why)
        self.item = item


def envelope_problem(payload: object) -> str | None:
    """What kombu's Redis transport needs of an item before it hands it on (its QoS files it by these)."""
    if not isinstance(payload, dict):
        return f"a JSON {type(payload).__name__}, not a message envelope"
    properties = payload.get("properties")
    if not isinstance(properties, dict):
        return "no properties"
    if not isinstance(properties.get("delivery_tag"), str) or not properties["delivery_tag"]:
        return "no delivery_tag"
    delivery_info = properties.get("delivery_info")
    if not isinstance(delivery_info, dict) or not {"exchange", "routing_key"} <= delivery_info.keys():
        return "no delivery_info"
    return None


class EnvelopeMessage(virtual.Message):
    """kombu's message, refusing with NotAMessage an envelope it would fail on further in (Channel.Message)."""

    def __init__(self, payload: Any, channel: Any = None, **kwargs: Any) -> None:
        why = envelope_problem(payload)
        if why is None:
            try:
                super().__init__(payload, channel=channel, **kwargs)
                return
            except Exception as error:  # a body_encoding kombu has no codec for, a base64 body that isn't
                why = f"{type(error).__name__}: {error}"
        raise NotAMessage(payload, why)


class Channel(kombu_redis.Channel):
    Message = EnvelopeMessage

    def _brpop_read(self, **options: Any) -> Any:
        # kombu's read of an item that is not a message raises out of the worker's event loop, which ends the worker
        # and loses the item: https://github.com/celery/celery/issues/7975. Keep it and go on reading instead.
        passed_on: tuple[type[BaseException], ...] = (
            virtual.Empty,
            *self.connection.connection_errors,
            *self.connection.channel_errors,
        )
        try:
            return super()._brpop_read(**options)  # type: ignore[misc]  # kombu's stubs lack it
        except passed_on:
            raise
        except NotAMessage as error:
            why, item = f"not a message envelope: {error}", error.item
        except Exception as error:  # JSONDecodeError (with the item), or kombu's JSON type hooks refusing a value
            kind = "not a JSON message" if isinstance(error, ValueError) else "unreadable"
            why, item = f"{kind}: {type(error).__name__}: {error}", getattr(error, "doc", None)
        queues = sorted(self.active_queues)
        rejected_message_keep(error=why, queue=queues[0] if len(queues) == 1 else None, body=item)
        return True

    def close(self) -> None:
        # kombu's close first reads the BRPOP in flight: with Redis gone that read raises and the channel stays open,
        # and the close Celery makes next, on a detached connection, raises AttributeError and ends the worker
        # (as in https://github.com/celery/kombu/issues/582). The read is over now: close the rest.
        try:
            super().close()
        except self.connection.connection_errors:
            if self.closed:
                raise
            super().close()


class Transport(kombu_redis.Transport):
    Channel = Channel


class Consumer(CeleryConsumer):
    # Set by Celery's consumer; celery-types does not declare them.
    hub: Any
    connection_errors: tuple[type[BaseException], ...]
    task_consumer: Any
    app: Any

    def connection_for_read(self, heartbeat: float | None = None) -> Any:
        # Only the worker's own reading connection uses Transport; web, beat and Flower publish as kombu does.
        return self.ensure_connected(self.app.connection_for_read(heartbeat=heartbeat, transport=TRANSPORT))

    def on_decode_error(self, message: Message, exc: Exception) -> None:
        # Celery's one refusal without a signal (https://github.com/celery/celery/issues/4308): send task_rejected.
        super().on_decode_error(message, exc)
        signals.task_rejected.send(sender=self, message=message, exc=exc)

    def create_task_handler(self, promise: Any = promise) -> Any:
        handle = super().create_task_handler(promise)

        def on_task_received(message: Message) -> None:
            # A message Celery cannot take apart (no id, a body not [args, kwargs, options], a task name that is a
            # list) raises out of the worker's event loop: https://github.com/celery/celery/issues/7975. That ends
            # the worker, or, for a KeyError (kombu's Redis transport counts it as a lost connection), reconnects it
            # to the same message forever. Refuse it as Celery refuses an invalid task: logged, rejected, kept.
            try:
                handle(message)
            except Exception as exc:
                if isinstance(exc, self.connection_errors) and not isinstance(exc, KeyError):
                    raise
                if message.acknowledged:
                    signals.task_rejected.send(sender=self, message=message, exc=exc)
                else:
                    self.on_invalid_task(None, message, exc)

        return on_task_received

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
