"""Fixtures for fault drills. Import the ones a test module uses (pytest finds fixtures by name there)::

    from tests.integration.fault_fixtures import faulty_smtp_fixture, private_postgres_fixture  # noqa: F401

and ask for them as ``faulty_smtp`` and ``private_postgres``. The functions have other names than their
fixtures so a test's parameter does not shadow the import (ruff's F811).
"""

from collections.abc import Iterator

import pytest

from tests.integration.faults import FaultySmtp, PrivatePostgres


@pytest.fixture(name="faulty_smtp")
def faulty_smtp_fixture() -> Iterator[FaultySmtp]:
    """A started FaultySmtp with no faults: point EMAIL_URL at ``faulty_smtp.url``."""
    with FaultySmtp() as server:
        yield server


@pytest.fixture(name="private_postgres")
def private_postgres_fixture() -> Iterator[PrivatePostgres]:
    """A started PostgreSQL of this test's own, fresh (a copy of the run's one initdb), removed after the test."""
    with PrivatePostgres() as server:
        yield server


@pytest.fixture(name="private_postgres_session", scope="session")
def private_postgres_session_fixture() -> Iterator[PrivatePostgres]:
    """One PrivatePostgres for the whole run (e.g. to migrate a template database once), removed at the end.

    A test that stops it should start it again before it ends.
    """
    with PrivatePostgres() as server:
        yield server
