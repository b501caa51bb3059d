"""Log lines that say which task, schedule entry and slot they belong to; one ``LOGGING`` for web, worker and beat."""

import contextlib
import logging
import logging.config
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


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = getattr(record, "context", None)
        if context:
            first, newline, rest = line.partition("\n")
            line = first + " [" + " ".join(f"{k}={v}" for k, v in context.items()) + "]" + newline + rest
        return line


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
