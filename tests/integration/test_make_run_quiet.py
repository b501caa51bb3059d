"""`make run`'s terminal is one a person can read: a line per thing that happened, and next to nothing when idle."""

import re
import sys
import time

import pytest
import requests

from scripts.localredis import free_port
from tests.integration.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

IDLE_SECONDS = 40


def test_idle_it_prints_next_to_nothing_and_a_page_is_one_line(start_process):
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    # The routine work (each queue's ping, the sweep) every few seconds instead of every minute: the idle window
    # below sees it run many times. MusicBrainz is unreachable: the demo's made-up artists are never asked about.
    stack = start_process(
        "devstack", command=f"{sys.executable} scripts/devstack.py", PORT=str(port), SITE_URL=site, REDIS_URL="",
        QUEUE_PING_SECONDS="4", DROPS_SWEEP_SECONDS="4", MUSICBRAINZ_URL="http://127.0.0.1:9/ws/2",
    )  # fmt: skip
    stack.wait_for("MusicDrops is running at", timeout=120)
    wait_until(lambda: re.search(r"worker-important\|.* ready", stack.output()), 60, "the workers ready", stack)
    time.sleep(2)

    before_page = len(stack.output().splitlines())
    browser = requests.Session()
    login = browser.get(f"{site}/accounts/login/", timeout=10)
    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', login.text)
    assert assets, "the page has stylesheets and scripts"
    for path in assets:
        assert browser.get(site + path, timeout=10).status_code == 200, path
    assert browser.get(f"{site}/favicon.ico", timeout=10).status_code == 200  # asked for by pages with no icon link
    requests.get(f"{site}/healthz", timeout=10)
    time.sleep(1)
    page_lines = [line for line in stack.output().splitlines()[before_page:] if re.match(r"\S+ web +\|", line)]
    assert [line for line in page_lines if "GET /accounts/login/" in line], page_lines
    assert len(page_lines) == 1, "\n".join(page_lines)  # the page, not its stylesheets, scripts, icon, nor the probe

    before_idle = len(stack.output().splitlines())
    time.sleep(IDLE_SECONDS)
    idle = stack.output().splitlines()[before_idle:]
    print(f"{len(idle)} lines in {IDLE_SECONDS} s idle, with pings and sweeps every 4 s")
    assert len(idle) <= 2, idle

    output = stack.output()
    assert not re.search(r" (WARNING|ERROR|CRITICAL) ", output), [
        line for line in output.splitlines() if re.search(r" (WARNING|ERROR|CRITICAL) ", line)
    ]
    assert "Traceback" not in output
    assert "Listening at:  (" not in output  # gunicorn's own line, empty with reuse_port
    assert "ping_queue_task[" not in output
    # No start-up banners (celery --quiet): each worker's config, queues and task list, and the beat's, ~45 lines each.
    assert "[tasks]" not in output
    assert "[config]" not in output
    assert "celery beat v" not in output
    assert "Configuration ->" not in output
    lines = output.splitlines()
    first = next(i for i, line in enumerate(lines) if "started (pid" in line)
    running = next(i for i, line in enumerate(lines) if "MusicDrops is running at" in line)
    print(f"{running - first} lines from the first process started to the banner")
    assert "] received" not in output
