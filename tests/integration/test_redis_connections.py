"""Redis connections per process, measured from the Procfile's own processes against the budget the app checks.

musicdrops/connections.py says what each process type holds at the most, from its settings; `manage.py check`,
the workers and the beat refuse a formation past REDIS_MAX_CONNECTIONS with it. Here each process type is
started as the Procfile starts it, with the settings app.json gives, and its connections to Redis are counted
from /proc (the process and its pool children): idle, and at the most while it works (web: 16 people logged in,
each pressing "refresh now" and polling it, while /healthz is probed; each worker: pings into every pool child,
and worker-drops a slot sent as the beat sends it, its fan-out publishing from a child; then an operator's
`celery inspect ping`). Flower (as `make flower` starts it) and the inspect itself are counted the same way. No
process may hold more than the budget says, nor fall short of it by more than the test cannot drive; the page's
tables must say the budget's figures; and with WORKER_REMOTE_CONTROL=0 every process is measured again.
"""

import io
import json
import re
import shutil
import subprocess
import sys
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
from django.db import connections as connections_to_the_database
from django.utils import timezone

from musicdrops import connections as connections_budget
from musicdrops.accounts.models import User
from musicdrops.ops.tasks import ping_queue_task
from scripts import flower
from scripts.localredis import free_port
from tests.docs.test_docs import ROOT
from tests.integration.drills import seed
from tests.integration.processes import Process, child_env, group_pids, procfile, tcp_connections_to, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PAGE = ROOT / "docs" / "failures" / "3-redis-full-of-results.md"
ROW = re.compile(r"^ *\| `([\w -]+)`(?! with)[^|]*\| (\d+) \| (\d+) \|$", re.MULTILINE)
LEAN_ROW = re.compile(r"^ *\| `([\w-]+)` with `WORKER_REMOTE_CONTROL=0`[^|]*\| (\d+) \| (\d+) \|$", re.MULTILINE)
INSPECT = "celery inspect ping"
SETTLE_SECONDS = 3
WORKERS = sorted(name for name in procfile() if name.startswith("worker-"))
CLIENTS = 16
PASSWORD = "connections-1234"
POOL_SLACK = 2  # a pool opens a connection only when two are wanted at once; web's threads may not all overlap


Figures = tuple[int, int]  # idle, at the most (while working, and after an inspect ping)


def documented(row: re.Pattern[str] = ROW) -> dict[str, Figures]:
    return {name: (int(idle), int(most)) for name, idle, most in row.findall(PAGE.read_text())}


def app_json_sizing() -> dict[str, str]:
    """The environment the Heroku button gives that sizes the processes (WEB_CONCURRENCY: gunicorn processes)."""
    given = {name: str(spec["value"]) for name, spec in app_json()["env"].items() if "value" in spec}
    return {name: given[name] for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS") if name in given}


def budgeted(**env: str) -> dict[str, int]:
    """musicdrops/connections.py's figure for each process type, under the environment the processes get."""
    code = "\n".join(
        (
            "import django, json",
            "django.setup()",
            "from musicdrops import connections as c",
            "print(json.dumps(c.per_process()))",
        )
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**child_env(**app_json_sizing(), **env), "DJANGO_SETTINGS_MODULE": "musicdrops.settings"},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    found: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def undriven(name: str) -> int:
    """What the budget counts that the test may not make a process hold: pool slack; a worker's pool child that
    took none of the test's work (-Ofair hands it to whichever is idle); and regular's and important's children's
    producers (they publish only when a task retries)."""
    if name not in WORKERS:
        return POOL_SLACK
    concurrency = settings.WORKER_CONCURRENCY[name.removeprefix("worker-")]
    child = 1 + connections_budget.PRODUCER
    unpublished = connections_budget.PRODUCER if name != "worker-drops" else 0
    return POOL_SLACK + (concurrency - 1) * child + unpublished


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


def measure_web(start_process, **env: str) -> tuple[Process, int, int]:
    port = free_port()
    web = start_process(
        "web", command=procfile()["web"] + " --access-logfile /dev/null", PORT=str(port), **app_json_sizing(), **env
    )
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

    return web, idle, most_while(web, threading.Thread(target=load))


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


def measure_worker(start_process, name: str, smtp_server, **env: str) -> tuple[Process, int, int]:
    """Idle once ready; at the most while every pool child takes a queue ping (each opens the direct client),
    and worker-drops sends a slot as the beat dispatches it (its fan-out publishes the chunks from a child)."""
    worker = start_process(name, EMAIL_URL=smtp_server.url, MUSICBRAINZ_URL="http://127.0.0.1:9/ws/2", **env)
    worker.wait_for("ready.")
    idle = settled(worker)
    queue = name.removeprefix("worker-")
    sent = len(smtp_server.messages)  # before the listeners exist: the beat measured before may send them first
    expected = _due_this_hour() if name == "worker-drops" else 0

    def work() -> None:
        try:
            for _ in range(4 * settings.WORKER_CONCURRENCY[queue]):  # more than one each: -Ofair picks idle children
                ping_queue_task.apply_async(args=(queue,), queue=queue)
                time.sleep(0.05)
            if expected:
                call_command("send_music_drops", slot=f"{timezone.now():%Y-%m-%dT%H:00Z}", stdout=io.StringIO())
                smtp_server.wait_for(sent + expected, timeout=90)
            time.sleep(SETTLE_SECONDS)
        finally:
            connections_to_the_database.close_all()  # this thread's own, or the test database outlives the run

    busy = most_while(worker, threading.Thread(target=work))
    assert len(smtp_server.messages) >= sent + expected, "the send did not finish: the figure would say nothing"
    return worker, idle, busy


def _due_this_hour() -> int:
    """300 listeners and the demo login, each with a release today and due in this hour's slot, daily."""
    expected = seed(300, one_slot=True)
    User.objects.update(time_zone="UTC", delivery_hour=timezone.now().hour, digest="daily")
    return expected


def measure_beat(start_process, **env: str) -> tuple[Process, int, int]:
    """Idle as it starts, and at the most while it dispatches (the send every 2 s, as the drills run it)."""
    beat = start_process("beat", MUSICBRAINZ_URL="http://127.0.0.1:9/ws/2", MUSIC_DROPS_EVERY_SECONDS="2", **env)
    beat.wait_for("beat: Starting...")
    idle = settled(beat)
    dispatching = threading.Thread(target=time.sleep, args=(3 * 2,))  # three dispatches, whatever the log says
    return beat, idle, max(most_while(beat, dispatching), settled(beat))


def measure_flower(start_process) -> tuple[Process, int, int]:
    """Flower as `make flower` starts it, with basic auth as on a platform: idle once it lists the workers,
    and at the most while someone refreshes the workers and opens the tasks and the broker's queues."""
    port = free_port()
    login = ("operator", "connections-flower")
    command = flower.line(port=port, address="127.0.0.1")
    process = start_process("flower", command=command, FLOWER_BASIC_AUTH=":".join(login))
    url = f"http://127.0.0.1:{port}"

    def get(path: str) -> Any:
        response = requests.get(url + path, auth=login, timeout=30)
        response.raise_for_status()
        return response.json() if path.startswith("/api/") else response.text

    def listed() -> bool:
        try:
            return len(get("/api/workers")) == len(WORKERS)
        except requests.RequestException:
            return False

    wait_until(listed, 30, "Flower to list the workers", process)
    idle = settled(process)

    def browse() -> None:
        node = next(name for name in get("/api/workers") if name.startswith("regular@"))
        for path in (
            "/api/workers?refresh=1",
            "/workers",
            f"/worker/{node}",
            "/tasks",
            "/api/queues/length",
            "/broker",
        ):
            get(path)

    return process, idle, most_while(process, threading.Thread(target=browse))


def inspect_ping(start_process) -> int:
    """An operator's `celery inspect ping`, every worker answering; its own connections at the most while it runs."""
    ping = start_process("inspect", command="celery -A musicdrops inspect ping --timeout 2")
    most = 0
    while ping.popen.poll() is None:
        most = max(most, connections(ping))
        time.sleep(0.02)
    assert ping.popen.returncode == 0, ping.output()
    assert ping.output().count(": OK") == len(WORKERS), ping.output()
    return most


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code in (200, 503)
    except requests.RequestException:
        return False


def check(measured: dict[str, Figures], budget: dict[str, int], says: dict[str, Figures], lean: bool) -> None:
    what = "lean" if lean else "by default"
    listed = sorted(says.keys() - {"flower", INSPECT})
    assert listed == sorted(measured), f"{PAGE.relative_to(ROOT)} lists {listed} {what}, not {sorted(measured)}"
    for name, (idle, most) in measured.items():
        said_idle, said_most = says[name]
        # The budget is the page's "at the most": no process may hold more, nor less by more than the test can't drive.
        assert said_most == budget[name], f"{name} {what}: the page says {said_most}, connections.py {budget[name]}"
        floor = budget[name] - undriven(name)
        assert floor <= most <= budget[name], f"{name} {what}: at the most {most}, the budget {budget[name]}"
        assert said_idle - POOL_SLACK <= idle <= said_idle, f"{name} {what}: idle {idle}, the page says {said_idle}"


def test_each_process_holds_at_most_what_the_budget_says_and_the_page_shows_it(start_process, smtp_server):
    if not shutil.which("ab"):
        pytest.skip("ab (ApacheBench) is missing: apt-get install apache2-utils")
    started = {"web": measure_web(start_process), "beat": measure_beat(start_process)}
    for name in WORKERS:
        started[name] = measure_worker(start_process, name, smtp_server)
    _, flower_idle, flower_most = measure_flower(start_process)
    inspect = inspect_ping(start_process)
    measured: dict[str, Figures] = {
        name: (idle, max(busy, settled(process))) for name, (process, idle, busy) in started.items()
    }
    print("\n" + "\n".join(f"{name}: idle {idle}, at the most {most}" for name, (idle, most) in measured.items()))
    print(f"flower: idle {flower_idle}, at the most {flower_most}; {INSPECT}: {inspect}")

    check(measured, budgeted(), documented(), lean=False)
    says = documented()
    # Flower idle: its pool grows with the inspects it has sent since it first listed the workers (13 to 21 seen).
    assert flower_most <= connections_budget.FLOWER == says["flower"][1], f"flower: at the most {flower_most}"
    assert connections_budget.INSPECT - POOL_SLACK <= inspect <= connections_budget.INSPECT == says[INSPECT][1]


def test_with_remote_control_off_each_process_holds_at_most_the_lean_budget(start_process, smtp_server):
    if not shutil.which("ab"):
        pytest.skip("ab (ApacheBench) is missing: apt-get install apache2-utils")
    lean = {"WORKER_REMOTE_CONTROL": "0"}
    started = {"web": measure_web(start_process, **lean), "beat": measure_beat(start_process, **lean)}
    for name in WORKERS:
        started[name] = measure_worker(start_process, name, smtp_server, **lean)
    measured = {name: (idle, busy) for name, (_, idle, busy) in started.items()}
    print("\n" + "\n".join(f"{name}, lean: idle {idle}, at the most {most}" for name, (idle, most) in measured.items()))
    check(measured, budgeted(**lean), documented(LEAN_ROW), lean=True)
