"""Web's queries have a time limit; a worker's have none (gunicorn.conf.py, settings.py)."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def setting_in_a_process(**env: str) -> str:
    code = (
        "from django.conf import settings; print(settings.DATABASES['default'].get('OPTIONS', {}).get('options', ''))"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "musicdrops.settings", **env},
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout.strip()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL setting; this run uses SQLite")
def test_web_sets_a_statement_timeout_and_a_worker_does_not():
    gunicorn_env: dict[str, Any] = {}
    exec((ROOT / "gunicorn.conf.py").read_text(), gunicorn_env)  # noqa: S102 (our own config)
    name, _, value = gunicorn_env["raw_env"][0].partition("=")
    assert setting_in_a_process(**{name: value}) == "-c statement_timeout=5000"
    assert setting_in_a_process() == ""
