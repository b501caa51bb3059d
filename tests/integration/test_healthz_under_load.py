"""/healthz tells the truth under load: with a beat that just took its lock, 32 connections get only 200s.

A health probe that fails when the app is merely busy, or while a healthy beat starts, gets
dynos restarted. The beat used to read as standby until its next heartbeat (5 s after it took
the lock), and /healthz answered 503 "no-active-beat" all that time.
"""

import re
import shutil
import subprocess
import time

import pytest
import requests

from musicdrops.scheduler import heartbeat
from scripts.localredis import free_port
from tests.integration.processes import procfile, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LOAD_SECONDS = 12


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.RequestException:
        return False
    return True


def test_healthz_answers_only_200_under_load_from_the_moment_a_beat_takes_its_lock(start_process, redis_client):
    if not shutil.which("ab"):
        pytest.skip("ab (ApacheBench) is missing: apt-get install apache2-utils")
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"
    production = {"DEBUG": "0", "SECRET_KEY": "load-test-only-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789"}
    production |= {"ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0", "SITE_URL": f"http://127.0.0.1:{port}"}
    # As the benchmark runs it: an access-log line per request would measure the log file.
    web = start_process("web", command=procfile()["web"] + " --access-logfile /dev/null", PORT=str(port), **production)
    wait_until(lambda: _answers(url), 60, "the web process to answer", web)

    beat = start_process("beat", **production)
    wait_until(lambda: redis_client.get(heartbeat.lock_key()) is not None, 60, "the beat to take its lock", beat)
    started = time.monotonic()
    load = subprocess.run(
        ["ab", "-q", "-k", "-c", "32", "-t", str(LOAD_SECONDS), "-n", "1000000", url],
        capture_output=True, text=True, check=True, timeout=LOAD_SECONDS + 30,
    )  # fmt: skip
    assert time.monotonic() - started < LOAD_SECONDS + 5

    complete = int(re.search(r"Complete requests:\s+(\d+)", load.stdout).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx responses:\s+(\d+)", load.stdout)  # ab prints the line only when there are any
    assert complete > 100 * LOAD_SECONDS, load.stdout  # loaded, not idling
    assert non_2xx is None, f"{non_2xx.group(1)} of {complete} answers were not 200\n{web.output()[-3000:]}"
    beat_check = requests.get(url, timeout=5).json()["checks"]["beat"]
    assert (beat_check["ok"], beat_check["live"], beat_check["active"]) == (True, 1, 1)
