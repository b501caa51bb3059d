"""A beat exits within the deadline after SIGTERM, even when Celery's SystemExit gets lost."""

import subprocess
import sys
import time

from tests.ops.test_settings import ROOT

SWALLOWED = """
import os, signal, time
import django; django.setup()
from musicdrops.scheduler import beat
signal.signal(signal.SIGTERM, lambda *_: None)  # Celery's handler, its SystemExit swallowed (a weakref callback)
beat._exit_after_sigterm()
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(30)
"""


def test_a_beat_whose_shutdown_exception_was_swallowed_still_exits_after_the_deadline():
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", SWALLOWED],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "musicdrops.settings", "DEBUG": "1", "PATH": ""},
        capture_output=True,
        timeout=60,
    )
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert 4.5 < seconds < 9, f"{seconds:.1f} s"
