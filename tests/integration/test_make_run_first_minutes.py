"""`make run` from a clean clone, as a newcomer meets it: port 8000 already taken, nothing configured.

It moves to the next free port and says so, listens on loopback only, prints its banner
only once /healthz says the whole stack is up, and its log reads as a log: emails as
emails, an upstream outage as one warning line, /healthz failures once.
"""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from scripts.localredis import free_port
from tests.integration.copies import copy_repository
from tests.integration.processes import ROOT, Process, child_env, wait_until
from tests.integration.test_make_run import post_form

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DEFAULT_PORT = 8000


@contextlib.contextmanager
def port_taken(port: int) -> Iterator[None]:
    """Something listens on 127.0.0.1:port for the duration (or already did: taken all the same)."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):
            server.bind(("127.0.0.1", port))
            server.listen()
        yield


def listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses with a socket listening on ``port`` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def newcomer_env(**extra: str) -> dict[str, str]:
    """Nothing set, as on a fresh machine: SQLite, a private Redis, the default port and host."""
    env = child_env(**extra)
    for name in ("DEBUG", "REDIS_URL", "DATABASE_URL", "EMAIL_URL", "PORT", "HOST", "SITE_URL", "MAKEFLAGS"):
        if name not in extra:
            env.pop(name, None)
    return env


def test_a_port_given_and_taken_stops_at_once_with_one_line_saying_so():
    port = free_port()
    with port_taken(port):
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "scripts/devstack.py"],
            cwd=ROOT,
            env=newcomer_env(PORT=str(port)),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert time.monotonic() - started < 10, "before migrating or starting anything"
    assert result.stderr.strip().splitlines() == [
        f"make run: port {port} on 127.0.0.1 is in use (another server?). Choose another: make run PORT={port + 1}"
    ]
    assert result.stdout == ""


def test_make_run_from_a_clean_clone_with_port_8000_taken(tmp_path, run_dir):
    clone = copy_repository(tmp_path / "clone", commit=True)
    # The dependencies this run installed, as make left them (same file times: nothing to reinstall).
    (clone / ".venv").symlink_to(ROOT / ".venv")
    for name in ("requirements.txt", "requirements-dev.txt"):
        stat = (ROOT / name).stat()
        os.utime(clone / name, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    nowhere = f"http://127.0.0.1:{free_port()}"  # MusicBrainz and ListenBrainz are down
    env = newcomer_env(MUSICBRAINZ_URL=nowhere, LISTENBRAINZ_URL=nowhere)
    with port_taken(DEFAULT_PORT):
        stack = Process("make-run", "make run", env, run_dir, cwd=clone)
        try:
            stack.wait_for("MusicDrops is running at", timeout=300)
            # The moment the banner shows, the whole stack is up.
            site = re.search(r"MusicDrops is running at (http://localhost:(\d+))", stack.output())
            assert site, stack.output()[-3000:]
            port = int(site.group(2))
            health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            assert (health.status_code, health.json()["status"]) == (200, "ok"), health.text

            assert port != DEFAULT_PORT
            assert f"make run: port {DEFAULT_PORT} is in use; using {port} (set PORT to choose)" in stack.output()
            assert listening_addresses(port) == {"127.0.0.1"}, "loopback only, unless HOST says otherwise"
            assert f"Listening at http://127.0.0.1:{port} " in stack.output()

            # An email, and an upstream outage: a ListenBrainz import with ListenBrainz down.
            url = f"http://127.0.0.1:{port}"
            post_form(requests.Session(), f"{url}/accounts/password/reset/", {"email": "demo@musicdrops.local"})
            demo = requests.Session()
            post_form(demo, f"{url}/accounts/login/", {"username": "demo@musicdrops.local",
                                                       "password": "listen-to-more-music"})  # fmt: skip
            assert post_form(demo, f"{url}/library/import/", {"username": "rob"}).status_code == 200
            wait_until(lambda: "ListenBrainz failed" in stack.output(), 120, "the import to fail", stack)
            wait_until(lambda: "Subject: Reset your MusicDrops password" in stack.output(), 30, "the email", stack)
        finally:
            seconds = stack.stop(signal.SIGINT, timeout=30)
    output = stack.output()
    assert seconds < 20, output[-3000:]

    email_lines = [line for line in output.splitlines() if "Subject: Reset your MusicDrops password" in line]
    assert email_lines == [f"{email_lines[0].split('|')[0]}| Subject: Reset your MusicDrops password"], email_lines
    [outage] = [line for line in output.splitlines() if "ListenBrainz failed" in line]
    assert re.search(r" WARNING musicdrops\.catalog\.services import \d+: ListenBrainz failed: GET .* failed", outage)
    assert "Traceback" not in output, "expected failures are one line each"
    assert "celery.redirected" not in output
    assert "Service Unavailable" not in output, "a 503 from /healthz is not logged as an error"
    assert output.count("/healthz failing") <= 1, "once per change, not once per probe"
    assert "/healthz failing" not in output.partition("MusicDrops is running at")[2], "no failure after the banner"
    assert "make-run-probe" not in output, "make run's own probes stay out of the log"
