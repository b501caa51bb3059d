"""Rename a copy of this repository, then run the copy's own tests: the renamed project works.

The copy holds what git would commit, as a clone would (tests/integration/copies.py).
"""

import re
from pathlib import Path

import pytest

from tests.integration.copies import copy_repository, run_in

pytestmark = pytest.mark.integration

NEW_PACKAGE = "tune_alert"
NEW_NAME = "Tune Alert"
OLD = re.compile(rb"musicdrops", re.IGNORECASE)
# Shown, not written: the screenshots show the app's old name in their pixels.
KEPT = {"docs/images"}


def traces(copy: Path) -> list[str]:
    found = []
    for path in copy.rglob("*"):
        relative = path.relative_to(copy).as_posix()
        if ".git" in path.parts or not path.is_file() or any(relative.startswith(kept) for kept in KEPT):
            continue
        if OLD.search(relative.encode()) or OLD.search(path.read_bytes()):
            found.append(relative)
    return found


def test_a_renamed_copy_has_no_trace_of_the_old_name_and_passes_its_own_tests(tmp_path):
    copy = copy_repository(tmp_path / "clone", commit=True)

    renamed = run_in(copy, "scripts/rename.py", NEW_PACKAGE, "--name", NEW_NAME, timeout=120)
    assert renamed.returncode == 0, renamed.stderr
    assert "ruff check: clean" in renamed.stdout, renamed.stdout
    assert traces(copy) == []
    assert (copy / NEW_PACKAGE / "settings.py").is_file()
    assert f'Celery("{NEW_PACKAGE}")' in (copy / NEW_PACKAGE / "celery.py").read_text()

    again = run_in(copy, "scripts/rename.py", NEW_PACKAGE, "--name", NEW_NAME, "--force", timeout=60)
    assert again.returncode == 0
    assert "nothing to do" in again.stdout

    # The copy's own unit tests, and a real-process test: both workers from its renamed Procfile.
    unit_dirs = sorted(f"tests/{path.name}" for path in (copy / "tests").iterdir() if (path / "__init__.py").exists())
    suites = [p for p in unit_dirs if p != "tests/integration"] + ["tests/integration/test_queues.py"]
    result = run_in(copy, "-m", "pytest", "-q", "-p", "no:cacheprovider", *suites, timeout=600)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    print(f"renamed copy: {summary}")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", summary)
