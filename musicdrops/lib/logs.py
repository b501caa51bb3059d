"""Log lines that say which task and which schedule slot they belong to.

Every record gets the running Celery task's id and name, the entry and slot
the beat stamped on its message, whatever `log_context` added (the beat sets
entry and slot while it dispatches) and the release, as attributes of the
record. Production prints one ``key=value`` line per record (logfmt, by
logfmter, as Heroku's own router logs), or JSON with ``LOG_FORMAT=json``
(python-json-logger); both write a record's extra attributes, so the context
needs no formatter of ours.
Development keeps the plain readable line, with the context in brackets.

One configuration for every process: Django applies ``LOGGING`` in web and
commands, and Celery's worker and beat apply the same one through Celery's
``setup_logging`` signal (`configure_celery_logging`) instead of their own.
"""

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

from musicdrops.lib.release import current_release

_context: ContextVar[dict[str, str]] = ContextVar("musicdrops_log_context", default={})  # noqa: B039 (never mutated)

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "context"}
# The schedule entry and slot our beat stamps on a dispatch (musicdrops/scheduler/slots.py): its task's lines say them.
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
    """Adds the task id and name, `log_context` fields and the release to the record.

    As attributes, which the logfmt and JSON formatters write like any
    ``extra=``; ``record.context`` gathers them (and ``extra=`` fields) for
    the plain line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        context: dict[str, Any] = {}
        # celery.current_task: the task this worker thread is running; outside one it stands for None.
        request = getattr(current_task, "request", None)
        if task_id := getattr(request, "id", None):
            context["task_id"] = task_id
            context["task"] = current_task.name
            stamped = {"entry": message_header(request, ENTRY_HEADER), "slot": message_header(request, SLOT_HEADER)}
            context |= {key: str(value) for key, value in stamped.items() if value}
        context |= _context.get()
        for key, value in context.items():
            setattr(record, key, value)
        # logger.info("...", extra={"user_id": 3}) lands as an attribute already: the plain line shows it too.
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
    """Development: the usual line, the context at the end in brackets."""

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
    """For ``LOGGING["formatters"]`` (as a ``"()"`` factory)."""
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
