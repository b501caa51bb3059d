"""Redis connections per process, measured from the Procfile's own processes: the table docs/failures/3 shows.

Heroku's smallest Redis plan, the one app.json names, takes 20 connections for every process
together. Each process type is started alone, as the Procfile starts it, and its connections to
Redis are counted from /proc (the process and its pool children): idle, and at the most while
it works (web: 16 people logged in, each pressing "refresh now" and polling it, while /healthz is
probed; worker-drops: sending a slot). The page's table must
say what is measured, and the formation app.json starts must fit the plan.
"""

import json
import re
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import call_command
from django.utils import timezone

from musicdrops.accounts.models import User
from scripts.localredis import free_port
from tests.docs.test_docs import ROOT
from tests.integration.drills import seed
from tests.integration.processes import Process, group_pids, procfile, tcp_connections_to, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PAGE = ROOT / "docs" / "failures" / "3-redis-full-of-results.md"
PLAN_LIMITS = {"heroku-redis:mini": 20, "heroku-redis:premium-0": 40, "heroku-redis:premium-1": 80}
ROW = re.compile(r"^ *\| `([\w-]+)`[^|]*\| (\d+) \| (\d+) \|", re.MULTILINE)
SETTLE_SECONDS = 3
CLIENTS = 16
PASSWORD = "connections-1234"


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
    hashed = PBKDF2PasswordHasher().encode(PASSWORD, "connections", iterations=1000)
    people = [
        # Hashed the way the web process verifies (the tests' own hasher is MD5, which production refuses).
        User.objects.create(email=f"load{n}@example.com", password=hashed, email_verified_at=timezone.now())
        for n in range(CLIENTS)
    ]

    def load() -> None:
        with ThreadPoolExecutor(CLIENTS + 1) as pool:
            probes = pool.submit(
                subprocess.run, ["ab", "-q", "-c", "8", "-n", "1000", url + "/healthz"], capture_output=True, timeout=60
            )
            list(pool.map(lambda user: _a_person_refreshing(url, user.email), people))
            probes.result()

    return idle, most_while(web, threading.Thread(target=load))


def _a_person_refreshing(url: str, email: str) -> None:
    """Log in, open the dashboard, press "refresh now" and poll its status, as the page does."""
    with requests.Session() as session:
        session.get(url + "/accounts/login/", timeout=10)
        form = {"username": email, "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]}
        session.post(url + "/accounts/login/", data=form, headers={"Referer": url + "/accounts/login/"}, timeout=10)
        session.get(url + "/dashboard/", timeout=10)
        started = session.post(
            url + "/jobs/refresh/",
            data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
            headers={"Accept": "application/json", "Referer": url + "/dashboard/"},
            timeout=10,
        )
        assert started.status_code == 202, started.text[:300]
        for nonce in range(20):
            session.get(url + started.json()["status_url"], params={"_": nonce}, timeout=10)


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

    busy = most_while(worker, threading.Thread(target=send))
    assert len(smtp_server.messages) >= expected, "the send did not finish: the figure would say nothing"
    return idle, busy


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
    says = documented()
    assert says.keys() == measured.keys(), f"{PAGE.relative_to(ROOT)} lists {sorted(says)}, not {sorted(measured)}"
    for name, (idle, busy) in measured.items():
        # Idle to the connection; at the most within two below what the page says (threads may not all overlap).
        assert idle == says[name][0], f"{name}: idle {idle}, the page says {says[name][0]}"
        assert says[name][1] - 2 <= busy <= says[name][1], f"{name}: at the most {busy}, the page says {says[name][1]}"
