"""Log lines that say which task and which schedule slot they belong to.

Every record gets the running Celery task's id and name, and the periodic
entry and slot it was dispatched for (from the headers our beat stamps), plus
whatever `log_context` added (the beat sets entry and slot while it
dispatches). Production prints one ``key=value`` line per record (logfmt, as
Heroku's own router logs), or JSON with ``LOG_FORMAT=json``; development
keeps the plain readable line, with the context in brackets at the end.

Django's ``LOGGING`` (web, commands) uses these through settings; Celery's
worker and beat install their own handlers, so `install_in_celery` puts the
same formatter and filter on those.
"""

import contextlib
import datetime as dt
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from celery import signals
from celery._state import get_current_task

from musicdrops.lib.release import current_release

_context: ContextVar[dict[str, str]] = ContextVar("musicdrops_log_context", default={})  # noqa: B039 (never mutated)

# The headers our beat stamps (musicdrops/scheduler/slots.py); spelled out here so lib imports no app.
_ENTRY_HEADER = "musicdrops_entry"
_SLOT_HEADER = "musicdrops_slot"
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "context"}


@contextlib.contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Add these fields to every record logged inside the block (this thread or task only)."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def _header(request: Any, name: str) -> Any:
    value = getattr(request, name, None)
    headers = getattr(request, "headers", None)
    if value is None and isinstance(headers, dict):
        value = headers.get(name)
    return value


class ContextFilter(logging.Filter):
    """Puts ``record.context``: task id and name, entry and slot, and fields given with ``extra=``."""

    def filter(self, record: logging.LogRecord) -> bool:
        context: dict[str, Any] = {}
        task = get_current_task()
        request = getattr(task, "request", None) if task is not None else None
        if request is not None and getattr(request, "id", None):
            context["task_id"] = request.id
            context["task"] = task.name
            for key, header in (("entry", _ENTRY_HEADER), ("slot", _SLOT_HEADER)):
                if value := _header(request, header):
                    context[key] = value
        context |= _context.get()
        # logger.info("...", extra={"user_id": 3}) lands as an attribute: keep it too.
        context |= {key: value for key, value in vars(record).items() if key not in _STANDARD}
        record.context = context
        return True


class DemoteToWarning(logging.Filter):
    """For a logger any outsider can trigger (a bad Host header): a one-line warning, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


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


def _fields(formatter: logging.Formatter, record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
        **getattr(record, "context", {}),
        "release": current_release(),
    }
    if record.exc_info:
        fields["exc"] = formatter.formatException(record.exc_info)
    return fields


def _logfmt_value(value: Any) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\\\n\t'):
        return text
    return json.dumps(text)  # quoted, with newlines and quotes escaped: still one line


class LogfmtFormatter(logging.Formatter):
    """Production: ``time=... level=info logger=... msg="..." task_id=... slot=... release=v42``."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={_logfmt_value(value)}" for key, value in _fields(self, record).items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(self, record), default=str)


FORMATTERS: dict[str, type[logging.Formatter]] = {
    "plain": PlainFormatter,
    "logfmt": LogfmtFormatter,
    "json": JsonFormatter,
}


def make_formatter(kind: str) -> logging.Formatter:
    """For ``LOGGING["formatters"]`` (as a ``"()"`` factory) and for Celery's handlers."""
    return FORMATTERS[kind]()


def install_in_celery() -> None:
    """Give Celery's worker and beat handlers (root, and the task logger) our format and context."""

    def restyle(logger: logging.Logger, **_: Any) -> None:
        from django.conf import settings

        for handler in logger.handlers:
            handler.setFormatter(make_formatter(settings.LOG_FORMAT))
            if not any(isinstance(f, ContextFilter) for f in handler.filters):
                handler.addFilter(ContextFilter())

    signals.after_setup_logger.connect(restyle, weak=False)
    signals.after_setup_task_logger.connect(restyle, weak=False)
