"""Postfix's ``smtp-sink`` as the benchmark's SMTP server, with an exact count of who got what.

``smtp-sink`` (a small C program in Debian's ``postfix`` package) is an SMTP
server written by someone else: it cannot share a misreading of SMTP (of
PIPELINING, say) with our client, as a Python sink of our own
(``tests.integration.conftest.SmtpSink``) could.

It keeps no counts that say who got what, so it appends each transaction
(envelope and message) to one dump file in memory (/dev/shm when there is
one), each behind a marker line. While a run is timed only the markers are
counted (one ``bytes.count`` over what is new); the recipients are read, and
duplicates found, afterwards. The dump is not free: smtp-sink writes each
transaction to a temporary file first, about 25 system calls per message,
which brings it to about 0.11 ms of CPU per message here, the same as that
Python sink (without the dump it takes about 0.07 ms, but counts nothing).

What the benchmark asks of a sink (as ``bench/postmark_server.py`` too): ``url``, ``pid``,
``reset()``, ``wait_for(count)`` and ``stats()``.
"""

import collections
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

HOST = "127.0.0.1"
# Not something a message can contain: SMTP lines end in CRLF, the dump's in LF.
MARKER = b"\n@@ smtp-sink transaction @@\n"
RECIPIENT = b"X-Rcpt-Args: "
DUPLICATES_SHOWN = 100


def find_smtp_sink() -> str | None:
    """The ``smtp-sink`` program, if Postfix is installed (it lives in /usr/sbin, often not on PATH)."""
    return shutil.which("smtp-sink") or shutil.which("smtp-sink", path="/usr/sbin:/usr/local/sbin")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class PostfixSink:
    def __init__(self, *, program: str | None = None, startup_timeout: float = 10.0) -> None:
        found = program or find_smtp_sink()
        if found is None:
            raise FileNotFoundError("smtp-sink not found: install Debian's postfix package")
        self.program = found
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._directory: Path | None = None
        self._port = 0
        self._start = 0  # where the current count starts in the dump file

    def start(self) -> Self:
        shm = Path("/dev/shm")  # noqa: S108 (mkdtemp makes a private directory in it)
        self._directory = Path(tempfile.mkdtemp(prefix="smtp-sink-", dir=shm if shm.is_dir() else None))
        command = [self.program, "-4", "-D", str(self.dump), "-S", MARKER.decode()]
        if os.geteuid() == 0:  # it refuses to run as root: it drops to -u, which must be able to write the dump
            os.chown(self._directory, pwd.getpwnam("nobody").pw_uid, -1)
            command += ["-u", "nobody"]
        self._port = _free_port()
        command += [f"{HOST}:{self._port}", "1024"]
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            with contextlib.suppress(OSError), socket.create_connection((HOST, self._port), timeout=1):
                break
            if self._process.poll() is not None or time.monotonic() > deadline:
                error = self._process.stderr.read() if self._process.stderr else b""
                self.stop()
                raise RuntimeError(f"smtp-sink did not start: {error.decode(errors='replace').strip()}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def dump(self) -> Path:
        assert self._directory is not None, "the sink is not running"
        return self._directory / "transactions"

    @property
    def url(self) -> str:
        return f"smtp://{HOST}:{self._port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def reset(self) -> None:
        """Count from here on (call it when nothing is being sent)."""
        self._start = self._size()

    def _size(self) -> int:
        try:
            return self.dump.stat().st_size
        except FileNotFoundError:
            return 0

    def _count(self) -> int:
        """Transactions since ``reset()``: markers only, read in place."""
        if self._size() <= self._start:
            return 0
        with self.dump.open("rb") as file:
            file.seek(self._start)
            return file.read().count(MARKER)

    def wait_for(self, count: int, timeout: float = 10.0) -> int:
        """Poll until at least ``count`` messages have arrived; fail with what did."""
        deadline = time.monotonic() + timeout
        seen, read = 0, self._start
        while True:
            # Only what was appended since the last look is read: the cost stays per message, not per poll.
            size = self._size()
            if size > read:
                with self.dump.open("rb") as file:
                    file.seek(read)
                    new = file.read(size - read)
                last = new.rfind(MARKER)
                if last >= 0:
                    seen += new.count(MARKER)
                    read += last + len(MARKER)
            if seen >= count:
                return seen
            if time.monotonic() >= deadline:
                raise AssertionError(f"expected {count} messages within {timeout} s; smtp-sink has {seen}")
            time.sleep(0.02)

    def stats(self) -> dict[str, Any]:
        """Messages and recipients since ``reset()``, recipients seen twice, and when the last message came."""
        size = self._size()
        with self.dump.open("rb") as file:
            file.seek(self._start)
            data = file.read(size - self._start)
        per_recipient: collections.Counter[str] = collections.Counter()
        messages = recipients = 0
        for transaction in data.split(MARKER)[1:]:
            messages += 1
            # smtp-sink's own lines come first and end with its Received: header; the message follows.
            for line in transaction.split(b"\n"):
                if line.startswith(RECIPIENT):
                    per_recipient[line[len(RECIPIENT) :].strip(b"<>").decode()] += 1
                    recipients += 1
                elif line.startswith(b"Received: "):
                    break
        duplicated = [r for r, n in per_recipient.items() if n > 1]
        return {
            "messages": messages,
            "recipients": recipients,
            "unique_recipients": len(per_recipient),
            "duplicates": {r: per_recipient[r] for r in duplicated[:DUPLICATES_SHOWN]},
            "duplicated_recipients": len(duplicated),
            # The file was last written when the last message arrived.
            "last_at": self.dump.stat().st_mtime_ns / 1e9 if messages else None,
        }
