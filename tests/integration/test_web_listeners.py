"""The web process: each gunicorn worker listens on its own socket, so kept-alive connections spread over both.

On one shared socket the worker that woke first took a whole burst of
connections, and kept them: one core served everything while the other idled.
"""

import http.client
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from musicdrops.accounts.models import User
from scripts.localredis import free_port
from tests.integration.processes import Process, children, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TCP_LISTEN, TCP_ESTABLISHED = "0A", "01"


def _sockets(pid: int, port: int, state: str, *, remote: bool = False) -> int:
    """How many of ``pid``'s TCP sockets on local (or ``remote``) ``port`` are in ``state`` (from /proc/net/tcp)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2 if remote else 1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                inodes.add(fields[9])
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            held.add(target[len("socket:[") : -1])
    return len(inodes & held)


def _start_web(start_process, port: int) -> tuple[Process, list[int]]:
    web = start_process("web", PORT=str(port), WEB_CONCURRENCY="2")
    wait_until(lambda: web.output().count("Booting worker") >= 2, 60, "two workers to boot", web)
    wait_until(lambda: len(children(web.pid)) == 2, 30, "two worker processes", web)
    workers = children(web.pid)
    wait_until(lambda: all(_sockets(w, port, TCP_LISTEN) == 1 for w in workers), 30, "both to listen", web)
    return web, workers


def test_each_worker_listens_on_a_socket_of_its_own(start_process):
    port = free_port()
    web, workers = _start_web(start_process, port)

    assert [_sockets(w, port, TCP_LISTEN) for w in workers] == [1, 1]
    assert _sockets(web.pid, port, TCP_LISTEN) == 0  # the master holds none: nothing to share


def test_kept_alive_connections_spread_over_both_workers(start_process):
    port = free_port()
    _, workers = _start_web(start_process, port)
    clients = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(16)]
    try:
        for client in clients:  # like a load balancer: 16 connections opened at once, each kept open
            client.connect()
        for client in clients:
            client.request("GET", "/healthz")
            response = client.getresponse()
            response.read()
            assert response.status in (200, 503)  # 503: no beat runs in this test; the answer is what counts

        held = [_sockets(w, port, TCP_ESTABLISHED) for w in workers]
    finally:
        for client in clients:
            client.close()

    # The kernel spreads connections over the two sockets by their addresses:
    # all 16 on one worker has a chance of 1 in 32,768.
    assert sum(held) == 16, held
    assert min(held) > 0, held


def test_a_second_server_on_a_port_in_use_refuses_to_start(start_process):
    """An old server still running must not silently share its port with the new one."""
    port = free_port()
    with socket.socket() as old:  # the old server: listening with SO_REUSEPORT, as our workers do
        old.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        old.bind(("0.0.0.0", port))
        old.listen()
        web = start_process("web", PORT=str(port))

        assert web.popen.wait(30) != 0
        assert f"Cannot listen on 0.0.0.0:{port}: Address already in use" in web.output()


def _at_once(request: Callable[[], requests.Response], clients: int = 16) -> None:
    start = threading.Barrier(clients)
    statuses: list[int] = []

    def run() -> None:
        start.wait()
        statuses.extend(request().status_code for _ in range(5))

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(statuses) <= {200, 202, 503}, statuses  # 503: /healthz without a beat


def test_a_web_process_redis_connections_stay_bounded_under_concurrent_requests(start_process):
    """Django's cache holds a connection per thread; polls read the job's row in PostgreSQL, not Redis."""
    port, password = free_port(), "correct-horse-battery-staple"
    site, redis_port = f"http://127.0.0.1:{port}", int(settings.REDIS_URL.rsplit(":", 1)[1].split("/")[0])
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"]):  # web's
        User.objects.create_user("fan@example.com", password, email_verified_at=timezone.now())
    web = start_process("web", PORT=str(port), WEB_CONCURRENCY="1")
    wait_until(lambda: [_sockets(w, port, TCP_LISTEN) for w in children(web.pid)] == [1], 60, "a worker", web)
    browser = requests.Session()
    browser.get(f"{site}/accounts/login/", timeout=10)
    form = {"username": "fan@example.com", "password": password, "csrfmiddlewaretoken": browser.cookies["csrftoken"]}
    assert browser.post(f"{site}/accounts/login/", form, timeout=10).url == f"{site}/dashboard/"
    ajax = {"Accept": "application/json", "X-CSRFToken": browser.cookies["csrftoken"]}

    def held() -> int:
        return sum(_sockets(pid, redis_port, TCP_ESTABLISHED, remote=True) for pid in [web.pid, *children(web.pid)])

    figures = {"logged in": held()}
    _at_once(lambda: requests.get(f"{site}/dashboard/", cookies=browser.cookies, timeout=20))
    figures["pages"] = held()
    status_url = site + browser.post(f"{site}/jobs/refresh/", headers=ajax, timeout=10).json()["status_url"]
    figures["a refresh"] = held()
    _at_once(lambda: requests.get(status_url, cookies=browser.cookies, timeout=20))
    figures["polls"] = held()
    _at_once(lambda: requests.get(f"{site}/healthz", timeout=20))
    figures["health checks"] = held()

    print(f"\nRedis connections of one web process (4 threads), 16 clients at once: {figures}")
    # Measured: 1 logged in, 4 after pages, 6 after a refresh, 6 after polls, 8 after /healthz (13 with a
    # result backend). The bound: the cache 1 per thread (gunicorn.conf.py's 4), the broker 2, or 4 while
    # two threads send at once, and the direct client's pool.
    threads, broker, direct = 4, 2 * settings.CELERY_BROKER_POOL_LIMIT, settings.REDIS_DIRECT_MAX_CONNECTIONS
    assert figures["polls"] == figures["a refresh"], figures  # a poll holds no Redis connection of its own
    assert max(figures.values()) <= threads + broker + direct, figures
