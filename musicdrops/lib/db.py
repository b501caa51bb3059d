"""One read on the persistent database connection, as cheap as the database allows.

Two costs are cut, because /healthz and the task-status endpoint are
requests that make one query and are served hundreds of times a second:

- The health-check round trip. With ``CONN_HEALTH_CHECKS`` Django sends
  ``SELECT 1`` before the first query of every request, so that a connection
  the server closed (a restart, a failover, an idle time-out) is replaced
  instead of failing the request. Here the query itself is the check: if it
  fails on a broken connection, the connection is replaced and the query sent
  once more, which is what the health check would have achieved.
- Parsing and planning. Django's PostgreSQL cursors bind parameters on the
  client, so PostgreSQL parses and plans every query it receives. These
  queries are sent with server-side binding instead, which lets psycopg
  prepare them once a connection has run them a few times
  (``prepare_threshold`` in settings.DATABASES); from then on the server only
  executes them, in about half the time.
"""

from collections.abc import Sequence
from typing import Any

from django.db import DatabaseError, connection
from django.db.backends.utils import CursorWrapper


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
    with _cursor() as cursor:
        cursor.execute(query, params)
        row: tuple[Any, ...] | None = cursor.fetchone()
        return row


def _cursor() -> CursorWrapper:
    """Django's cursor; on PostgreSQL one that binds on the server (the only kind psycopg prepares).

    It is wrapped the way Django wraps its own, so the query is logged,
    counted by the test tools and seen by error reporting like any other.
    """
    if connection.vendor != "postgresql":
        return connection.cursor()
    import psycopg  # only where PostgreSQL is configured: SQLite setups need not have it

    connection.ensure_connection()
    connection.validate_thread_sharing()
    cursor: Any = psycopg.Cursor(connection.connection)  # Any: django-stubs want a wrapper where Django wraps this
    return connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)
