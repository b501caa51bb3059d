"""Log lines that say which task, schedule entry and slot they belong to; one ``LOGGING`` for web, worker and beat."""

import contextlib
import logging
import logging.config
import re
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from celery import current_task, signals
from logfmter import Logfmter
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from musicdrops.release import current_release

_context: ContextVar[dict[str, str]] = ContextVar("musicdrops_log_context", default={})  # noqa: B039 (never mutated)

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "context"}
ENTRY_HEADER = "musicdrops_entry"
SLOT_HEADER = "musicdrops_slot"
ISO_TIME = "%Y-%m-%dT%H:%M:%S%z"


@contextlib.contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Add these fields to every record logged inside the block (this thread or task only)."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def message_header(request: Any, name: str) -> Any:
    """A header the task's message carries: an attribute of its request in a worker, in ``headers`` when eager."""
    value = getattr(request, name, None)
    headers = getattr(request, "headers", None)
    return headers.get(name) if value is None and isinstance(headers, dict) else value


class ContextFilter(logging.Filter):
    """Adds the task id and name, `log_context` fields and the release; ``record.context`` for the plain line."""

    def filter(self, record: logging.LogRecord) -> bool:
        context: dict[str, Any] = {}
        request = getattr(current_task, "request", None)
        if task_id := getattr(request, "id", None):
            context["task_id"] = task_id
            context["task"] = current_task.name
            stamped = {"entry": message_header(request, ENTRY_HEADER), "slot": message_header(request, SLOT_HEADER)}
            context |= {key: str(value) for key, value in stamped.items() if value}
        context |= _context.get()
        for key, value in context.items():
            setattr(record, key, value)
        # extra= fields are attributes already: the plain line shows them too.
        record.context = {key: value for key, value in vars(record).items() if key not in _STANDARD}
        record.release = current_release()
        return True


class DemoteToWarning(logging.Filter):
    """For a logger any outsider can trigger (a bad Host header): a one-line warning, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def not_a_health_probe(record: logging.LogRecord) -> bool:
    """For django.request: a 503 from /healthz is an answer, not an error; /healthz logs its changes itself."""
    return getattr(getattr(record, "request", None), "path_info", None) != "/healthz"


# Celery's task lines carry their arguments again as ``data`` (with a traceback, for an expected failure): the
# structured formats keep it as a field, the plain line a person reads shows only the message.
_NOT_IN_PLAIN = {"data"}


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = {k: v for k, v in (getattr(record, "context", None) or {}).items() if k not in _NOT_IN_PLAIN}
        if context:
            first, newline, rest = line.partition("\n")
            line = first + " [" + " ".join(f"{k}={v}" for k, v in context.items()) + "]" + newline + rest
        return line


class QuietWhenIdle(logging.Filter):
    """Routine lines go to DEBUG (LOG_LEVEL=DEBUG shows them), so an idle stack prints next to nothing: Celery's
    "received" and "Sending due task" (other lines say it again), and a frequent entry's dispatch and its task's
    end when it did nothing (a queue's ping). The hourly send and the daily jobs keep their lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not _routine(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


_NOTHING_DONE = re.compile(r"None|0|False|\(\)|\[\]|\{('[^']*': 0(, )?)*\}")


def _routine(record: logging.LogRecord) -> bool:
    message = str(record.msg)
    if record.name == "celery.worker.strategy" or (
        record.name == "celery.beat" and message.startswith("Scheduler: Sending due task")
    ):
        return True
    if record.name == "musicdrops.scheduler.beat" and message.startswith("dispatched %s%s"):
        by_hand = isinstance(record.args, tuple) and len(record.args) > 1 and record.args[1]
        return not by_hand and getattr(record, "entry", None) in _frequent_entries()
    if record.name == "celery.app.trace" and isinstance(record.args, dict) and "return_value" in record.args:
        returned = str(record.args["return_value"])
        return record.args.get("name") in _frequent_tasks() and _NOTHING_DONE.fullmatch(returned) is not None
    return False


def _schedule() -> dict[str, dict[str, Any]]:
    from django.conf import settings

    schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", {})
    return schedule if isinstance(schedule, dict) else {}


def _frequent_entries() -> set[str]:
    return {
        name
        for name, entry in _schedule().items()
        if isinstance(entry.get("schedule"), int | float) and entry["schedule"] < 3600
    }


def _frequent_tasks() -> set[str]:
    schedule = _schedule()
    return {str(schedule[name].get("task")) for name in _frequent_entries()}


def make_formatter(kind: str) -> logging.Formatter:
    if kind == "plain":
        return PlainFormatter()
    names = {"time": "asctime", "level": "levelname", "logger": "name"}
    if kind == "json":
        return JsonFormatter(
            "{asctime}{levelname}{name}{message}", style="{", datefmt=ISO_TIME,
            rename_fields={**{v: k for k, v in names.items()}, "message": "msg", "exc_info": "exc"},
            reserved_attrs=[*RESERVED_ATTRS, "context"],
        )  # fmt: skip
    return Logfmter(keys=["time", "level", "logger"], mapping=names, datefmt=ISO_TIME, ignored_keys=["context"])


def configure_celery_logging() -> None:
    """Worker and beat log through settings.LOGGING, as web does (Celery's own handlers are not installed)."""

    def from_settings(**_: Any) -> None:
        from django.conf import settings

        logging.config.dictConfig(settings.LOGGING)

    signals.setup_logging.connect(from_settings, weak=False)
