"""Which code a process runs: the release and the commit.

Written into beat heartbeats, log lines and Sentry events, so that a process
left running from an older deploy can be told apart from the current ones.
"""

import functools
import shutil
import subprocess
from pathlib import Path

from django.conf import settings


@functools.cache
def current_commit() -> str:
    """The commit this checkout or slug was built from, shortened; "" when nobody knows.

    The platform says so in production (``HEROKU_SLUG_COMMIT`` with Heroku's
    dyno metadata, ``SOURCE_VERSION`` baked into the Docker image); a
    development checkout asks git, once per process.
    """
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
