"""Run the app's real processes (from the Procfile's own command lines) in tests."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection

from musicdrops.ops.procfile import read_procfile

ROOT = Path(__file__).resolve().parents[2]


def procfile() -> dict[str, str]:
    return read_procfile()


def database_url() -> str:
    """The URL of the test database this test run uses, for child processes."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DEBUG": "1",
        "REDIS_URL": settings.REDIS_URL,
        "DATABASE_URL": database_url(),
        "PYTHONUNBUFFERED": "1",
        "EMAIL_URL": "console://",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(extra)
    return env


class Process:
    """A child process in its own process group, its output in a file."""

    def __init__(self, name: str, command: str, env: dict[str, str], log_dir: Path, cwd: Path = ROOT) -> None:
        self.name = name
        self.command = command
        self.log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        # Like Heroku: bash runs the Procfile line, and replaces itself with the one command in it.
        self.popen = subprocess.Popen(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 60) -> None:
        wait_until(lambda: text in self.output(), timeout, f"{self.name} to print {text!r}", self)

    def send_signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def group_alive(self) -> bool:
        """Whether any live (non-zombie) process is left in this process's group, children included."""
        return bool(group_pids(self.pid))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> float:
        """Signal the whole group, as a platform does; return the seconds until every process in it is gone.

        Whatever is left after ``timeout`` is killed (SIGKILL), as the platform would.
        """
        started = time.monotonic()
        self.send_signal(sig)
        deadline = started + timeout
        while (self.popen.poll() is None or self.group_alive()) and time.monotonic() < deadline:
            time.sleep(0.02)
        elapsed = time.monotonic() - started
        if self.popen.poll() is None or self.group_alive():
            self.send_signal(signal.SIGKILL)
            self.popen.wait(10)
        self._log.close()
        return elapsed


def children(pid: int) -> list[int]:
    """The pids of the processes whose parent is ``pid``."""
    return [other for other, _, parent, _ in _processes() if parent == pid]


def wait_until(condition: Callable[[], object], timeout: float, what: str, *watch: Process) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for process in watch:
            if process.popen.poll() is not None:
                raise AssertionError(f"{process.name} exited while waiting for {what}:\n{process.output()[-3000:]}")
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.name}\n{p.output()[-3000:]}" for p in watch)
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")
        time.sleep(0.05)


def group_pids(pgrp: int) -> list[int]:
    """Every live process of a process group: a Procfile line's process and its children (pool, threads' forks)."""
    return [pid for pid, state, _, group in _processes() if group == pgrp and state != "Z"]


def _processes() -> Iterator[tuple[int, str, int, int]]:
    """Every process on the machine as (pid, state, parent pid, process group), from /proc."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        yield int(stat.parent.name), fields[0], int(fields[1]), int(fields[2])


def tcp_connections_to(port: int, pids: list[int]) -> int:
    """Established TCP connections these processes hold to ``port`` on this machine (read from /proc, no tools)."""
    inodes: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                remote_port, state, inode = int(fields[2].rsplit(":", 1)[1], 16), fields[3], fields[9]
                if remote_port == port and state == "01" and inode in inodes:  # 01: ESTABLISHED
                    count += 1
    return count
