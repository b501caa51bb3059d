"""Messages a worker refused, kept in Redis for an operator (docs/failures/6-pickle.md): a capped list of capped
JSON records, written by musicdrops/consumer.py, read by /healthz, /metrics and the `rejected_messages` command."""

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from musicdrops.redis_client import get_client

logger = logging.getLogger(__name__)

HEADERS_KEPT = 30  # a message's headers kept, each value cut to HEADER_VALUE_CHARS
HEADER_VALUE_CHARS = 500


def list_key() -> str:
    return settings.REJECTED_MESSAGES_KEY


def total_key() -> str:
    return f"{settings.REJECTED_MESSAGES_KEY}:total"


def acknowledged_key() -> str:
    return f"{settings.REJECTED_MESSAGES_KEY}:acknowledged"


@dataclass(frozen=True)
class Counts:
    kept: int  # in the list now
    total: int  # ever kept
    acknowledged: int  # the total when an operator last acknowledged them

    @property
    def unacknowledged(self) -> bool:
        return self.kept > 0 and self.total > self.acknowledged

    @classmethod
    def from_answers(cls, kept: Any, totals: Any) -> "Counts":
        """From LLEN's and MGET's answers in someone else's pipeline; garbage counts as nothing."""
        total, acknowledged = totals if isinstance(totals, list) and len(totals) == 2 else (None, None)
        return cls(kept=kept if isinstance(kept, int) else 0, total=_int(total), acknowledged=_int(acknowledged))


@dataclass(frozen=True)
class Kept:
    """One kept message, as the list holds it (``raw`` is the entry itself, to remove exactly that one)."""

    raw: str
    id: str
    kept_at: str
    queue: str | None
    error: str
    content_type: str | None
    content_encoding: str | None
    headers: dict[str, Any]
    body: str
    body_encoding: str
    body_size: int
    complete: bool  # nothing was cut: it can be published again as it came

    @classmethod
    def from_raw(cls, entry: str | bytes) -> "Kept":
        raw = entry.decode("utf-8", errors="replace") if isinstance(entry, bytes) else entry
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
        if not isinstance(record, dict):  # not ours (someone LPUSHed here): shown, never requeued
            record = {"error": "not a kept-message record", "body": raw[:HEADER_VALUE_CHARS], "complete": False}
        headers = record.get("headers")
        return cls(
            raw=raw,
            id=str(record.get("id") or ""),
            kept_at=str(record.get("kept_at") or ""),
            queue=record.get("queue") if isinstance(record.get("queue"), str) else None,
            error=str(record.get("error") or ""),
            content_type=record.get("content_type") if isinstance(record.get("content_type"), str) else None,
            content_encoding=_str_or_none(record.get("content_encoding")),
            headers=headers if isinstance(headers, dict) else {},
            body=str(record.get("body") or ""),
            body_encoding="latin-1" if record.get("body_encoding") == "latin-1" else "utf-8",
            body_size=_int(record.get("body_size")),
            complete=record.get("complete") is True,
        )

    @property
    def task(self) -> str | None:
        task = self.headers.get("task")
        return task if isinstance(task, str) else None

    def requeueable(self, queues: list[str]) -> bool:
        """A whole JSON task message of a queue we have: the kind a deploy or a fix can make runnable again."""
        return (
            self.complete
            and self.queue is not None
            and self.queue in queues
            and self.content_type == "application/json"
            and self.task is not None
            and isinstance(self.headers.get("id"), str)
        )


def rejected_message_keep(
    *,
    error: str,
    queue: str | None,
    body: object,
    content_type: str | None = None,
    content_encoding: str | None = None,
    headers: object = None,
) -> None:
    """Keep a refused message (cut to REJECTED_MESSAGE_BYTES); never raises: the worker goes on either way."""
    try:
        record = _record(
            error=error,
            queue=queue,
            body=body,
            content_type=content_type,
            content_encoding=content_encoding,
            headers=headers,
        )
        with get_client().pipeline() as pipe:
            pipe.lpush(list_key(), record)
            pipe.ltrim(list_key(), 0, settings.REJECTED_MESSAGES_KEPT - 1)
            pipe.incr(total_key())
            pipe.execute()
    except Exception:
        logger.exception("could not keep a rejected message (%s); its log line above is all that is left", error)
    else:
        logger.warning("message refused and kept in %s: %s", list_key(), error)


def rejected_messages_counts() -> Counts:
    client = get_client()
    with client.pipeline(transaction=False) as pipe:
        pipe.llen(list_key())
        pipe.mget([total_key(), acknowledged_key()])
        kept, totals = pipe.execute()
    return Counts.from_answers(kept, totals)


def rejected_messages_list(*, limit: int) -> list[Kept]:
    """The newest ``limit`` kept messages, newest first."""
    return [Kept.from_raw(raw) for raw in get_client().lrange(list_key(), 0, max(0, limit - 1))]


def rejected_messages_acknowledge() -> None:
    """An operator has seen every message kept so far: /healthz stops reporting them; they stay listed."""
    client = get_client()
    client.set(acknowledged_key(), _int(client.get(total_key())))


def rejected_messages_remove(*, ids: list[str]) -> int:
    """Remove the kept messages with these ids; the number removed."""
    wanted = set(ids)
    client = get_client()
    removed = 0
    for kept in map(Kept.from_raw, client.lrange(list_key(), 0, -1)):
        if kept.id in wanted:
            removed += client.lrem(list_key(), 1, kept.raw)  # by value: a message kept meanwhile doesn't shift it
    return removed


def rejected_messages_clear() -> int:
    """Remove every kept message (which acknowledges them); the number removed."""
    client = get_client()
    with client.pipeline() as pipe:
        pipe.llen(list_key())
        pipe.delete(list_key())
        removed, _ = pipe.execute()
    return int(removed)


def rejected_messages_requeue(*, queues: list[str]) -> tuple[int, int]:
    """Publish again, to their queue, the kept messages that can run as they came; (requeued, left kept).

    For a task unknown to the worker that got it (sent by a newer release mid-deploy), or arguments the
    task could not take until a fix was deployed. Each is removed from the list once published (published
    first: a failure in between runs it twice, which every task is safe to, rather than losing it).
    """
    from musicdrops.celery import app  # the Celery app loads this module's users: import it only when publishing

    client = get_client()
    requeued = left = 0
    with app.connection_for_write() as connection:
        producer = connection.Producer()
        for entry in client.lrange(list_key(), 0, -1):
            kept = Kept.from_raw(entry)
            if kept.queue is None or not kept.requeueable(queues):
                left += 1
                continue
            queue = app.amqp.queues[kept.queue]
            producer.publish(
                kept.body.encode(kept.body_encoding),
                exchange=queue.exchange,
                routing_key=queue.routing_key,
                declare=[queue],
                headers=kept.headers,
                content_type=kept.content_type,
                content_encoding=kept.content_encoding or "utf-8",
            )
            client.lrem(list_key(), 1, kept.raw)
            requeued += 1
    return requeued, left


def _record(
    *,
    error: str,
    queue: str | None,
    body: object,
    content_type: str | None,
    content_encoding: str | None,
    headers: object,
) -> str:
    """The list entry: JSON, at most REJECTED_MESSAGE_BYTES long (ASCII, so characters are bytes)."""
    limit = settings.REJECTED_MESSAGE_BYTES
    text, body_encoding, size = _text(body)
    kept_headers, headers_whole = _headers(headers)
    record: dict[str, Any] = {
        "id": uuid.uuid4().hex[:12],
        "kept_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "queue": _cut(queue, 100),
        "error": _cut(error, HEADER_VALUE_CHARS),
        "content_type": _cut(content_type, 100),
        "content_encoding": _cut(content_encoding, 100),
        "headers": kept_headers,
        "body_encoding": body_encoding,
        "body_size": size,
        "complete": False,
        "body": "",
    }
    room = limit - len(json.dumps(record)) - len('"complete": true')
    if room < limit // 4:  # headers crowd out the body: keep their gist
        record["headers"], headers_whole = {"(cut)": _cut(json.dumps(kept_headers), 200)}, False
        room = limit - len(json.dumps(record)) - len('"complete": true')
    cut = min(len(text), max(0, room))
    while cut and len(json.dumps(text[:cut])) > room:  # escapes make the JSON longer than the text
        cut = min(cut - 1, cut * room // len(json.dumps(text[:cut])))
    record["body"] = text[:cut]
    record["complete"] = headers_whole and cut == len(text)
    return json.dumps(record)


def _text(body: object) -> tuple[str, str, int]:
    """The body as text, the encoding that gives its bytes back, and its size in bytes."""
    if isinstance(body, bytes):
        try:
            return body.decode("utf-8"), "utf-8", len(body)
        except UnicodeDecodeError:
            return body.decode("latin-1"), "latin-1", len(body)  # any bytes, and back again
    if body is None:
        return "", "utf-8", 0
    text = body if isinstance(body, str) else json.dumps(body, default=repr)
    return text, "utf-8", len(text.encode("utf-8", errors="replace"))


def _headers(headers: object) -> tuple[dict[str, Any], bool]:
    """At most HEADERS_KEPT headers, each cut to HEADER_VALUE_CHARS; whether they are all there as they came."""
    if headers is None:
        return {}, True
    if not isinstance(headers, dict):
        return {"(not a mapping)": _cut(repr(headers), HEADER_VALUE_CHARS)}, False
    kept: dict[str, Any] = {}
    whole = len(headers) <= HEADERS_KEPT
    for key, value in list(headers.items())[:HEADERS_KEPT]:
        name = str(key)[:100]
        if value is None or isinstance(value, (bool, int, float)):
            kept[name] = value
            continue
        text = json.dumps(value, default=repr)
        if len(text) <= HEADER_VALUE_CHARS and not isinstance(value, bytes):
            kept[name] = value
        else:
            kept[name] = _cut(value if isinstance(value, str) else text, HEADER_VALUE_CHARS)
            whole = False
        whole = whole and name == key
    return kept, whole


def _cut(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
