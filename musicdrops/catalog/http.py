"""Getting JSON from an upstream HTTP API, with retries: the loop every upstream client shares.

What differs between services — which statuses mean what, how they say
"slow down" — stays in each client, as the ``on_status`` it passes in.
"""

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

logger = logging.getLogger(__name__)

BACKOFF_FIRST = 1.0  # seconds before the first retry the server gave no delay for; doubles each time
BACKOFF_MAX = 30.0
MAX_BAD_BODIES = 3  # an unreadable 200 is retried twice (a proxy hiccup), then it's a real problem

# Failures of the connection rather than of the request: the same request can succeed next time.
TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,  # the body was cut off mid-way
    requests.exceptions.ContentDecodingError,  # a proxy mangled the compression
)


class BadBody(ValueError):
    """A 200 whose body a parser cannot use; retried like a transient failure."""


@dataclass(frozen=True)
class Retry:
    """An ``on_status`` answer: this status is worth another try."""

    problem: str
    delay: float | None = None  # seconds to wait before it, instead of the backoff


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
    """GET ``url`` until ``parse`` accepts a 200's JSON, or raise ``error`` after ``max_attempts``.

    ``on_status`` sees every other answer: it raises (no retry) or returns a
    ``Retry``. ``before_each`` runs before every request, retries included.
    """
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
            logger.warning(
                "%s GET %s: %s; retry %d of %d in %.1f s", service, url, problem, attempt, max_attempts - 1, delay
            )
            if delay > 0:
                sleep(delay)
    raise error(f"GET {url} failed after {attempt} attempts: {problem}")
