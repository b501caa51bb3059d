"""fetch_one: one query, no health-check round trip, prepared on the server, and a dropped connection replaced."""

import psycopg
import pytest
from django.db import DatabaseError, connection

from musicdrops.lib.db import fetch_one

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates a PostgreSQL backend"),
]


def _persistent_connection() -> None:
    """A connection reused across requests, as CONN_MAX_AGE and CONN_HEALTH_CHECKS make it in production."""
    connection.ensure_connection()
    connection.health_check_enabled = True  # type: ignore[attr-defined]
    connection.health_check_done = False  # type: ignore[attr-defined]  # as at the start of a request


def _terminate(pid: int) -> None:
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"] or 5432, user=settings["USER"],
        password=settings["PASSWORD"], dbname=settings["NAME"], autocommit=True,
    ) as other:  # fmt: skip
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_one_round_trip_instead_of_a_health_check_and_the_query(monkeypatch):
    checks: list[bool] = []

    def is_usable() -> bool:
        checks.append(True)
        return True

    monkeypatch.setattr(connection, "is_usable", is_usable)
    _persistent_connection()
    with connection.cursor() as cursor:  # how any other query starts a request: SELECT 1 first
        cursor.execute("SELECT 1")
    assert len(checks) == 1

    _persistent_connection()
    before = connection.connection.info.backend_pid
    row = fetch_one("SELECT %s::int", [7])

    assert row == (7,)
    assert len(checks) == 1  # no second check
    assert connection.connection.info.backend_pid == before  # the same connection, not a new one


def test_a_connection_the_server_dropped_is_replaced_and_the_query_answered():
    _persistent_connection()
    old_pid = connection.connection.info.backend_pid
    _terminate(old_pid)

    assert fetch_one("SELECT %s::int", [7]) == (7,)
    assert connection.connection.info.backend_pid != old_pid


def test_a_real_error_is_raised_not_retried():
    _persistent_connection()

    with pytest.raises(DatabaseError):
        fetch_one("SELECT * FROM no_such_table_anywhere", [])


def _prepared_statements() -> list[str]:
    with connection.cursor() as cursor:  # pg_prepared_statements lists this session's only
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [statement for (statement,) in cursor.fetchall()]


def test_a_query_run_again_and_again_is_prepared_once_and_then_only_executed():
    _persistent_connection()
    for n in range(6):
        assert fetch_one("SELECT %s::int + 1", [n]) == (n + 1,)

    assert _prepared_statements() == ["SELECT $1::int + 1"]


def test_djangos_own_queries_are_never_prepared():
    """The ORM's SQL is not written to be prepared (parameters inlined on the client): only fetch_one's is."""
    _persistent_connection()
    with connection.cursor() as cursor:
        for n in range(6):
            cursor.execute("SELECT %s::int + 2", [n])

    assert _prepared_statements() == []
