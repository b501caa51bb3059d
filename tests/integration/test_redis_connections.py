"""Redis connections per process, measured from the Procfile's own processes: the table docs/failures/3 shows.

Heroku's smallest Redis plan, the one app.json names, takes 20 connections for every process
together. Each process type is started alone, as the Procfile starts it, and its connections to
Redis are counted from /proc (the process and its pool children): idle, and at the most while
it works (web under 16 concurrent requests; worker-drops sending a slot). The page's table must
say what is measured, and the formation app.json starts must fit the plan.
"""

import json
import re
import shutil
import subprocess
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from django.core.management import call_command

from scripts.localredis import free_port
from tests.docs.test_docs import ROOT
from tests.integration.drills import seed
from tests.integration.processes import Process, group_pids, procfile, tcp_connections_to, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PAGE = ROOT / "docs" / "failures" / "3-redis-full-of-results.md"
PLAN_LIMITS = {"heroku-redis:mini": 20, "heroku-redis:premium-0": 40, "heroku-redis:premium-1": 80}
ROW = re.compile(r"^\| `([\w-]+)`[^|]*\| (\d+) \| (\d+) \|", re.MULTILINE)
SETTLE_SECONDS = 3


def documented() -> dict[str, tuple[int, int]]:
    return {name: (int(idle), int(busy)) for name, idle, busy in ROW.findall(PAGE.read_text())}


def connections(process: Process) -> int:
    return tcp_connections_to(urlsplit(settings.REDIS_URL).port or 6379, group_pids(process.pid))


def most_while(process: Process, work: threading.Thread) -> int:
    work.start()
    most = 0
    while work.is_alive():
        most = max(most, connections(process))
        time.sleep(0.05)
    return max(most, connections(process))


def settled(process: Process) -> int:
    time.sleep(SETTLE_SECONDS)
    return connections(process)


def app_json() -> dict[str, Any]:
    found: dict[str, Any] = json.loads((ROOT / "app.json").read_text())
    return found


def measure_web(start_process) -> tuple[int, int]:
    port = free_port()
    # With the environment the Heroku button gives it (WEB_CONCURRENCY: gunicorn processes per dyno).
    given = {name: str(spec["value"]) for name, spec in app_json()["env"].items() if "value" in spec}
    sizing = {name: given[name] for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS") if name in given}
    web = start_process("web", command=procfile()["web"] + " --access-logfile /dev/null", PORT=str(port), **sizing)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(url + "/healthz"), 60, "web to answer", web)
    idle = settled(web)

    def load() -> None:
        for path in ("/healthz", "/accounts/login/"):
            subprocess.run(["ab", "-q", "-c", "16", "-n", "800", url + path], capture_output=True, timeout=60)

    return idle, most_while(web, threading.Thread(target=load))


def measure_worker(start_process, name: str, smtp_server) -> tuple[int, int]:
    worker = start_process(name, EMAIL_URL=smtp_server.url, MUSICBRAINZ_URL="http://127.0.0.1:9/ws/2")
    worker.wait_for("ready.")
    idle = settled(worker)
    if name != "worker-drops":
        return idle, idle
    expected = seed(300, one_slot=True)

    def send() -> None:
        call_command("send_music_drops")
        smtp_server.wait_for(expected, timeout=90)

    return idle, most_while(worker, threading.Thread(target=send))


def measure_beat(start_process) -> tuple[int, int]:
    beat = start_process("beat", MUSICBRAINZ_URL="http://127.0.0.1:9/ws/2")
    beat.wait_for("beat: Starting...")
    return (idle := settled(beat)), idle


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code in (200, 503)
    except requests.RequestException:
        return False


def test_each_process_holds_the_connections_the_docs_say_and_the_formation_fits_the_plan(start_process, smtp_server):
    if not shutil.which("ab"):
        pytest.skip("ab (ApacheBench) is missing: apt-get install apache2-utils")
    measured = {"web": measure_web(start_process), "beat": measure_beat(start_process)}
    for name in sorted(n for n in procfile() if n.startswith("worker-")):
        measured[name] = measure_worker(start_process, name, smtp_server)
    print("\n" + "\n".join(f"{name}: idle {idle}, at most {busy}" for name, (idle, busy) in measured.items()))

    app = app_json()
    plans = [a if isinstance(a, str) else a["plan"] for a in app["addons"]]
    limit = next(PLAN_LIMITS[plan] for plan in plans if plan in PLAN_LIMITS)
    formation = {name: spec["quantity"] for name, spec in app["formation"].items()}
    needed = sum(measured[name][1] * count for name, count in formation.items())
    assert needed <= limit, f"the formation needs {needed} connections at the most; the plan takes {limit}"
    assert documented() == measured, f"{PAGE.relative_to(ROOT)} says {documented()}, measured {measured}"
