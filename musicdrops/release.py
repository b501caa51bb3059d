"""Which code a process runs, so a process left from an older deploy stands out in heartbeats, logs and Sentry."""

import functools
import shutil
import subprocess
from pathlib import Path

from django.conf import settings


@functools.cache
def current_commit() -> str:
    """The commit built from, shortened: the platform's (settings.COMMIT), else git's, else ""."""
    if settings.COMMIT:
        return settings.COMMIT[:12]
    git = shutil.which("git")
    if git is None or not (Path(settings.BASE_DIR) / ".git").exists():
        return ""
    try:
        result = subprocess.run(  # noqa: S603 (a fixed command, no input)
            [git, "rev-parse", "--short=12", "HEAD"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip()


def current_release() -> str:
    """The platform's release name (Heroku: "v42"), else the commit, else "dev"."""
    return settings.RELEASE or current_commit() or "dev"
