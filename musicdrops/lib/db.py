"""One read on the persistent database connection, without a round trip spent checking it first.

With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` before the first query
of every request, so that a connection the server closed (a restart, a
failover, an idle time-out) is replaced instead of failing the request. That
doubles the database round trips of a request that makes one query, and
/healthz and the task-status endpoint are such requests, served hundreds of
times a second. Here the query itself is the check: if it fails on a broken
connection, the connection is replaced and the query sent once more, which is
what the health check would have achieved.
"""

from collections.abc import Sequence
from typing import Any

from django.db import DatabaseError, connection


def fetch_one(query: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """``cursor.fetchone()`` of a read-only query, retried once on a new connection if the old one was dead."""
    fresh = connection.connection is None
    connection.health_check_done = True  # type: ignore[attr-defined]  # this query is the check
    try:
        return _fetch_one(query, params)
    except DatabaseError:
        if fresh or connection.in_atomic_block or connection.is_usable():
            raise  # not a stale connection: a real error, or inside a transaction that must see it
        connection.close()
        return _fetch_one(query, params)


def _fetch_one(query: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        row: tuple[Any, ...] | None = cursor.fetchone()
        return row
