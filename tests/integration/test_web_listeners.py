"""The web process: each gunicorn worker listens on its own socket, so kept-alive connections spread over both.

On one shared socket the worker that woke first took a whole burst of
connections, and kept them: one core served everything while the other idled.
"""

import http.client
import socket
from pathlib import Path

import pytest

from scripts.localredis import free_port
from tests.integration.processes import Process, children, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TCP_LISTEN, TCP_ESTABLISHED = "0A", "01"


def _sockets(pid: int, port: int, state: str) -> int:
    """How many of ``pid``'s TCP sockets on local ``port`` are in ``state`` (from /proc/net/tcp)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
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
