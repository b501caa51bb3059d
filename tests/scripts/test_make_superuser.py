"""`make superuser`: an admin login in make run's database; manage.py without settings says why, in a line."""

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**env: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL", "MAKEFLAGS"}}
    return {**kept, **env}


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_superuser_creates_an_admin_who_can_log_in(tmp_path):
    database = tmp_path / "db.sqlite3"
    result = subprocess.run(
        ["make", "--no-print-directory", "superuser"],
        cwd=ROOT,
        env=clean_env(
            DATABASE_URL=f"sqlite:///{database}",
            DJANGO_SUPERUSER_EMAIL="admin@example.com",
            DJANGO_SUPERUSER_PASSWORD="an-admin-passphrase-7",
        ),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Superuser created successfully." in result.stdout
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT is_staff, is_superuser FROM accounts_user WHERE email = 'admin@example.com'"
        ).fetchone()
    assert row == (1, 1)


def test_manage_py_without_a_secret_key_says_what_to_set_in_one_line():
    result = subprocess.run(
        [sys.executable, "manage.py", "createsuperuser"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "manage.py: SECRET_KEY is not set. Production settings refuse to start without it; "
        "for local development set DEBUG=1."
    ]
