"""Test-run setup: every run gets its own Redis database and its own PostgreSQL database.

The settings read the environment once, at import, so this module sets the
environment before Django loads them (DJANGO_SETTINGS_MODULE is set here, not
in pyproject.toml, for exactly that reason).
"""

import atexit
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

if "musicdrops.settings" in sys.modules:
    raise pytest.UsageError("Unset DJANGO_SETTINGS_MODULE: the test run chooses its own Redis and database.")

from scripts import localredis  # imports no settings

RUN_DIR = Path(tempfile.mkdtemp(prefix="musicdrops-test-"))
RUN_ID = f"{os.getpid()}"
_CLAIM_TOKEN = f"{os.uname().nodename}:{RUN_ID}:{uuid.uuid4().hex}"  # unique even if a pid is reused
_CLAIM_KEY = "musicdrops:test-run:db:{}"


# Delete the claim only if it is still ours: a run must never free another run's database.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def _release_redis_database(base: redis.Redis, claimed: redis.Redis, number: int) -> None:
    if base.get(_CLAIM_KEY.format(number)) == _CLAIM_TOKEN.encode():
        claimed.flushdb()
    base.eval(_RELEASE, 1, _CLAIM_KEY.format(number), _CLAIM_TOKEN)


def _claim_redis_database(url: str) -> str:
    """Reserve a database number on a shared Redis for this run (1..12), so two runs never meet.

    13 to 15 are the benchmarks' (bench/), whose workers would take this run's tasks.
    """
    base = redis.Redis.from_url(url, socket_connect_timeout=5)
    for number in range(1, 13):
        if base.set(_CLAIM_KEY.format(number), _CLAIM_TOKEN, nx=True, ex=6 * 3600):
            prefix, _, _ = url.rpartition("/")
            own = f"{prefix}/{number}" if url.count("/") > 2 else f"{url}/{number}"
            # Not from_url(url, db=number): a database in the URL wins over the argument, and 0 holds the claims.
            claimed = redis.Redis.from_url(own)
            claimed.flushdb()
            atexit.register(_release_redis_database, base, claimed, number)
            return own
    raise pytest.UsageError("All Redis databases 1..12 are claimed by other test runs.")


def _redis_for_run() -> str:
    url = os.environ.get("REDIS_URL")
    if url:
        return _claim_redis_database(url)
    process, url = localredis.start(directory=RUN_DIR / "redis")
    atexit.register(process.kill)
    return url


os.environ["REDIS_URL"] = _redis_for_run()
os.environ["DEBUG"] = "1"
os.environ.pop("EMAIL_URL", None)
os.environ["DJANGO_SETTINGS_MODULE"] = "musicdrops.settings"
atexit.register(shutil.rmtree, RUN_DIR, True)

import django  # noqa: E402
from django.conf import settings  # noqa: E402

django.setup()
# Production serves hashed files from collectstatic's manifest (tested in
# tests/ops/test_settings.py); the other tests use the source files directly.
settings.STORAGES = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Hashing passwords at production strength costs most of a second per user created.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
settings.STATIC_ROOT = RUN_DIR / "staticfiles"
settings.STATIC_ROOT.mkdir()


@pytest.fixture(scope="session")
def django_db_modify_db_settings() -> None:
    """A test database of this run's own: a file for SQLite (worker processes share it), a unique name otherwise."""
    from django.conf import settings

    for alias, db in settings.DATABASES.items():
        test = db.setdefault("TEST", {})
        if db["ENGINE"].endswith("sqlite3"):
            test["NAME"] = str(RUN_DIR / f"test-{alias}.sqlite3")
        else:
            test["NAME"] = f"test_{db['NAME']}_{RUN_ID}"


@pytest.fixture
def run_dir() -> Path:
    return RUN_DIR


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _clean_redis(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts with an empty Redis database (this run's own)."""
    yield
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).flushdb()


@pytest.fixture
def user(client):
    """A verified user, logged in on ``client``."""
    from django.utils import timezone

    from musicdrops.accounts.models import User

    user = User.objects.create_user("fan@example.com", "correct-horse-battery-staple", email_verified_at=timezone.now())
    client.force_login(user)
    return user


def pytest_report_header() -> list[str]:
    db = settings.DATABASES["default"]
    return [
        f"database: {db['ENGINE'].rsplit('.', 1)[-1]} ({db.get('HOST') or db['NAME']})",
        f"redis: {settings.REDIS_URL}",
    ]
