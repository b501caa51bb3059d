"""CPU time spent by each group of processes in a benchmark run, read from /proc (Linux only).

Emails per second depend on whatever else the machine runs; CPU time per
email does not, or much less. So the daily send benchmark also reports, for
each process group (the worker, PostgreSQL's backends for the benchmark's
database, the SMTP sink, Redis, the benchmark itself), the CPU milliseconds
it spent per email.

A background thread samples the groups and keeps the last figure seen for
each process, so a process that exits during the run is counted up to its
last sample. That matters for PostgreSQL: Celery closes a task's database
connections when it ends, so each chunk's backends live for a second or so.
The children of ``watch_children_of`` (PostgreSQL's postmaster) are found
every 20 ms, everything else with a scan of /proc every 200 ms; only the
processes found are read that often, which costs the benchmark process
about 1% of a core.
"""

import contextlib
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# A group is a test on (pid, session id, command line).
Matcher = Callable[[int, int, bytes], bool]


def _stat(pid: int) -> tuple[int, int] | None:
    """(session id, CPU ticks of the process: user + system), or None if it is gone."""
    try:
        raw = (PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # The command name, in parentheses, may itself contain spaces and parentheses.
    fields = raw[raw.rindex(b")") + 2 :].split()
    # fields[0] is field 3 of proc(5), the state. Session is field 6; utime and stime are 14 and 15.
    return int(fields[3]), int(fields[11]) + int(fields[12])


def parent_of(pid: int) -> int | None:
    try:
        raw = (PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    return int(raw[raw.rindex(b")") + 2 :].split()[1])


def _cmdline(pid: int) -> bytes:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""


def session_of(leader: int) -> Matcher:
    """Every process in the session ``leader`` started (``start_new_session=True``)."""
    return lambda pid, session, cmdline: session == leader


def pid_is(wanted: Callable[[], int | None]) -> Matcher:
    return lambda pid, session, cmdline: pid == wanted()


def cmdline_has(*needles: bytes) -> Matcher:
    return lambda pid, session, cmdline: all(n in cmdline for n in needles)


class CpuMeter:
    """Start before a timed run, stop after: ``seconds()`` gives each group's CPU seconds in between."""

    def __init__(
        self,
        groups: dict[str, Matcher],
        *,
        watch_children_of: Sequence[int] = (),
        interval: float = 0.02,
        scan_every: int = 10,
    ) -> None:
        self.groups = groups
        self.watch_children_of = list(watch_children_of)
        self.interval = interval
        self.scan_every = scan_every
        self.available = PROC.joinpath("self", "stat").exists()
        self._start: dict[int, int] = {}
        self._last: dict[int, int] = {}
        self._group_of: dict[int, str | None] = {}
        self._live: set[int] = set()
        self._gone: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _classify(self, pid: int, session: int) -> str | None:
        if pid not in self._group_of:
            cmdline = _cmdline(pid)
            self._group_of[pid] = next((g for g, match in self.groups.items() if match(pid, session, cmdline)), None)
        return self._group_of[pid]

    def _sample(self, into: dict[int, int], *, scan: bool = True) -> None:
        if scan:
            candidates = {int(e.name) for e in os.scandir(PROC) if e.name.isdigit()}
        else:
            candidates = set(self._live)
            for parent in self.watch_children_of:
                with contextlib.suppress(OSError):
                    candidates.update(
                        map(int, (PROC / str(parent) / "task" / str(parent) / "children").read_bytes().split())
                    )
        for pid in candidates:
            if pid in self._gone or self._group_of.get(pid, "") is None:
                continue  # exited (its last figure is kept), or seen before in no group
            stat = _stat(pid)
            if stat is None:
                if pid in self._live:
                    self._live.discard(pid)
                    self._gone.add(pid)
            elif self._classify(pid, stat[0]) is not None:
                self._live.add(pid)
                into[pid] = stat[1]

    def start(self) -> None:
        if not self.available:
            return
        self._group_of.clear()
        self._live.clear()
        self._gone.clear()
        self._start, self._last = {}, {}
        self._sample(self._start)
        self._last.update(self._start)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for tick in itertools.count(1):
            if self._stop.wait(self.interval):
                return
            self._sample(self._last, scan=tick % self.scan_every == 0)

    def stop(self) -> dict[str, float]:
        """CPU seconds per group since ``start()``."""
        if self._thread is None:
            return {}
        self._stop.set()
        self._thread.join()
        self._thread = None
        self._sample(self._last)
        totals = dict.fromkeys(self.groups, 0.0)
        for pid, ticks in self._last.items():
            group = self._group_of.get(pid)
            if group is not None:
                totals[group] += (ticks - self._start.get(pid, 0)) / TICKS_PER_SECOND
        return totals
