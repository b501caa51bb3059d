"""Getting JSON from an upstream HTTP API with retries; what each service's statuses mean is its ``on_status``."""

import datetime as dt
import email.utils
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

logger = logging.getLogger(__name__)

BACKOFF_FIRST = 1.0  # when the server names no delay; doubles each time
BACKOFF_MAX = 30.0
MAX_BAD_BODIES = 3  # an unreadable 200 is retried twice (a proxy hiccup), then it's a real problem

TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class BadBody(ValueError):
    """A 200 whose body a parser cannot use; retried like a transient failure."""


@dataclass(frozen=True)
class Retry:
    """An ``on_status`` answer: worth another try, after ``delay`` seconds if given, else the backoff."""

    problem: str
    delay: float | None = None


class RetryLater(Exception):
    """Raised by a ``parse``: a 200 whose body says "try again" (Last.fm's error 29, Deezer's quota), a ``Retry``."""

    def __init__(self, retry: Retry) -> None:
        super().__init__(retry.problem)
        self.retry = retry


def backoff(attempt: int) -> float:
    return float(min(BACKOFF_FIRST * 2 ** (attempt - 1), BACKOFF_MAX))


def get_json[T](
    *,
    service: str,
    session: requests.Session,
    url: str,
    params: dict[str, str | int],
    headers: dict[str, str],
    timeout: float,
    max_attempts: int,
    parse: Callable[[Any], T],
    on_status: Callable[[requests.Response], Retry],
    error: type[Exception],
    before_each: Callable[[], None],
    sleep: Callable[[float], None],
) -> T:
    """GET until ``parse`` accepts a 200's JSON, else raise ``error``; ``before_each`` runs before every try."""
    bad_bodies = 0
    problem = ""
    attempt = 0
    for attempt in range(1, max_attempts + 1):
        before_each()
        delay = backoff(attempt)
        try:
            response = session.get(url, params=params, headers=headers, timeout=timeout)
        except TRANSIENT_ERRORS as exc:
            problem = f"{type(exc).__name__}: {exc}"
        except requests.RequestException as exc:  # an invalid URL and the like: retrying won't help
            raise error(f"GET {url} failed: {exc}") from exc
        else:
            if response.status_code == 200:
                try:
                    return parse(json.loads(response.content))
                except RetryLater as exc:
                    problem = exc.retry.problem
                    delay = delay if exc.retry.delay is None else exc.retry.delay
                except ValueError as exc:  # not JSON, cut short, or not the shape we know (BadBody)
                    bad_bodies += 1
                    problem = f"unusable body ({exc})"
                    if bad_bodies >= MAX_BAD_BODIES:
                        break
            else:
                retry = on_status(response)
                problem = retry.problem
                if retry.delay is not None:
                    delay = retry.delay
        if attempt < max_attempts:
            logger.info(  # a retry is handled; a failure after the last is the caller's to report
                "%s GET %s: %s; retry %d of %d in %.1f s", service, url, problem, attempt, max_attempts - 1, delay
            )
            if delay > 0:
                sleep(delay)
    raise error(f"GET {url} failed after {attempt} attempts: {problem}")


def retry_after_seconds(value: str | None, *, longest: float) -> float | None:
    """``Retry-After`` as seconds from now (at most ``longest``), from either of its forms; None if unreadable."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), longest)
