"""An SMTP server on loopback that accepts every message and records who got what.

Benchmarks and tests send real SMTP to it and then ask, over a small HTTP
control port, how many messages arrived and whether any recipient got two.
It keeps only a few fields per message (recipients, Message-ID, Subject,
size, arrival time), so a run of a million emails stays small; full bodies
only for the first ``keep_bodies`` messages, for content checks.

Why not aiosmtpd: it takes about 250 messages/s on our machines, slower than
the app it would measure. This one parses a buffer with ``bytes.find`` in
``asyncio.BufferedProtocol`` callbacks (no await per line, no allocation per
read) and runs in a process of its own, so its CPU never competes with the
measuring process's GIL.

Run it alone::

    python -m bench.smtp_sink --port 2525 --control-port 2526 [--keep-bodies 10]

or from Python::

    with SmtpSink() as sink:  # free ports, own process
        ...send to sink.url...
        sink.wait_for(1000, timeout=30)
"""

import argparse
import asyncio
import collections
import contextlib
import gc
import http.client
import itertools
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self
from urllib.parse import parse_qs, urlsplit

HOST = "127.0.0.1"
NAME = b"smtp-sink"
MAX_MESSAGE_SIZE = 32 * 1024 * 1024
MAX_RECIPIENTS = 10_000  # per message; RFC 5321 asks for at least 100
MAX_COMMAND_LINE = 64 * 1024  # RFC 5321 says 512; be generous, but bounded
DEFAULT_MAX_RECORDS = 1_000_000  # per-message records kept for /messages; counters cover every message
DUPLICATES_SHOWN = 100
READ_SIZE = 64 * 1024
ROOT = Path(__file__).resolve().parent.parent

# The data phase starts right after the CRLF that ends "DATA", so a virtual CRLF
# in front of the data lets one search find the terminator even for an empty
# message, and one replace undo the dot-stuffing of the first line too.
CRLF = b"\r\n"
TERMINATOR = b"\r\n.\r\n"
_FOLDED = re.compile(rb"\r\n(?=[ \t])")
# A field and its folded continuation lines.
_FIELD = re.compile(rb"^(message-id|subject)[ \t]*:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", re.IGNORECASE | re.MULTILINE)
_BODY_HEADER = re.compile(rb"--- body \d+: (\d+) bytes ---\r\n")

EHLO_EXTENSIONS = b"250-8BITMIME\r\n250-PIPELINING\r\n250-SMTPUTF8\r\n250 SIZE %d\r\n" % MAX_MESSAGE_SIZE


# --- What is recorded ---------------------------------------------------------


class Record(NamedTuple):
    """One accepted message. Header values are the raw text received (RFC 2047 words stay encoded)."""

    seq: int
    sender: str
    recipients: tuple[str, ...]
    message_id: str | None
    subject: str | None
    size: int
    at: float

    def as_json(self) -> dict[str, Any]:
        return {**self._asdict(), "recipients": list(self.recipients)}


def header_fields(content: bytes) -> tuple[str | None, str | None]:
    """Message-ID and Subject from the header block only (up to the first blank line), unfolded."""
    if content.startswith(CRLF):
        return None, None  # no header block at all
    end = content.find(b"\r\n\r\n")
    found: dict[bytes, str] = {}
    for match in _FIELD.finditer(content, 0, len(content) if end < 0 else end):
        value = match[2]
        if CRLF in value:
            value = _FOLDED.sub(b"", value)
        found.setdefault(match[1].lower(), value.strip().decode("utf-8", "replace"))
    return found.get(b"message-id"), found.get(b"subject")


class Store:
    """Counters over every message since the last reset, plus bounded per-message records."""

    def __init__(self, *, keep_bodies: int = 0, max_records: int = DEFAULT_MAX_RECORDS) -> None:
        self.keep_bodies = keep_bodies
        self.records: collections.deque[Record] = collections.deque(maxlen=max_records)
        self.bodies: list[bytes] = []
        self.per_recipient: collections.Counter[str] = collections.Counter()
        # Recipients seen more than once, in the order they became duplicates:
        # kept apart so /stats never has to scan every recipient.
        self.duplicated: dict[str, None] = {}
        self.messages = self.recipients = self.size = self.connections = 0
        self.first_at: float | None = None
        self.last_at: float | None = None

    def reset(self) -> None:
        self.records.clear()
        self.bodies.clear()
        self.per_recipient.clear()
        self.duplicated.clear()
        self.messages = self.recipients = self.size = self.connections = 0
        self.first_at = self.last_at = None

    def add(self, sender: str, recipients: list[str], content: bytes) -> int:
        now = time.time()
        message_id, subject = header_fields(content)
        self.messages += 1
        self.recipients += len(recipients)
        self.size += len(content)
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        counts = self.per_recipient
        for recipient in recipients:
            counts[recipient] += 1
            if counts[recipient] == 2:
                self.duplicated[recipient] = None
        self.records.append(Record(self.messages, sender, tuple(recipients), message_id, subject, len(content), now))
        if len(self.bodies) < self.keep_bodies:
            self.bodies.append(content)
        return self.messages

    def stats(self) -> dict[str, Any]:
        shown = itertools.islice(self.duplicated, DUPLICATES_SHOWN)
        return {
            "messages": self.messages,
            "recipients": self.recipients,
            "unique_recipients": len(self.per_recipient),
            "duplicates": {recipient: self.per_recipient[recipient] for recipient in shown},
            "duplicated_recipients": len(self.duplicated),  # the uncapped count behind "duplicates"
            "first_at": self.first_at,
            "last_at": self.last_at,
            "bytes": self.size,
            "connections": self.connections,
            # The sink's own CPU time since it started: its cost per message
            # shows how far it is from being the bottleneck.
            "cpu_seconds": time.process_time(),
        }

    def recent(self, limit: int) -> list[dict[str, Any]]:
        start = max(0, len(self.records) - limit)
        return [self.records[i].as_json() for i in range(start, len(self.records))]

    def bodies_text(self) -> bytes:
        """Each kept body behind a line giving its length in bytes, so a reader can split them exactly."""
        parts = []
        for number, body in enumerate(self.bodies, 1):
            parts.append(b"--- body %d: %d bytes ---\r\n" % (number, len(body)))
            parts.append(body)
            parts.append(CRLF)
        return b"".join(parts)


# --- SMTP ---------------------------------------------------------------------


def _address_and_parameters(argument: str, keyword: str) -> tuple[str, list[str]] | None:
    """Split ``FROM:<a@b> SIZE=10`` into the address and its parameters; None if malformed."""
    if argument[: len(keyword)].upper() != keyword:
        return None
    rest = argument[len(keyword) :].lstrip()
    if rest.startswith("<"):
        close = rest.find(">")
        if close < 0:
            return None
        address, parameters = rest[1:close], rest[close + 1 :]
    else:
        address, _, parameters = rest.partition(" ")
    if address.startswith("@") and ":" in address:
        address = address.split(":", 1)[1]  # a source route, which RFC 5321 says to ignore
    return address, parameters.split()


def _mail_parameters_error(parameters: list[str]) -> bytes | None:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        name = name.upper()
        if name == "SIZE":
            if not value.isdigit():
                return b"501 5.5.4 Bad SIZE parameter\r\n"
            if int(value) > MAX_MESSAGE_SIZE:
                return b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"
        elif name == "BODY":
            if value.upper() not in {"7BIT", "8BITMIME"}:
                return b"501 5.5.4 Bad BODY parameter\r\n"
        elif name != "SMTPUTF8" or value:
            return b"555 5.5.4 MAIL FROM parameter not recognized\r\n"
    return None


class SmtpSession(asyncio.BufferedProtocol):
    """One client connection. Commands are handled in arrival order; all replies to one read go out in one write.

    A BufferedProtocol because the plain Protocol's transport allocates a fresh
    256 KiB bytes object per read: three extra system calls (mmap, mremap,
    munmap) per command, which here cost more than the SMTP work itself.
    """

    def __init__(self, store: Store, sessions: set["SmtpSession"]) -> None:
        self.store = store
        self.sessions = sessions
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.data: bytearray | None = None  # set during the DATA phase
        self.scanned = 0  # how far self.data has been searched for the terminator
        self.too_big = False
        self.greeted = False
        self.sender: str | None = None
        self.recipients: list[str] = []
        self.closing = False
        self.incoming = memoryview(bytearray(READ_SIZE))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.sessions.add(self)
        self.store.connections += 1
        transport.write(b"220 " + NAME + b" ESMTP ready\r\n")

    def connection_lost(self, exc: Exception | None) -> None:
        self.sessions.discard(self)

    # A client that pipelines without reading its replies is not read from
    # until it does, so its replies cannot pile up here.
    def pause_writing(self) -> None:
        assert self.transport is not None
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        assert self.transport is not None
        self.transport.resume_reading()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.incoming

    def buffer_updated(self, nbytes: int) -> None:
        if self.closing:
            return
        data = self.incoming[:nbytes]
        if self.data is not None:
            self.data += data
        else:
            self.buffer += data
        replies: list[bytes] = []
        self._process(replies)
        assert self.transport is not None
        if replies:
            self.transport.write(b"".join(replies))
        if self.closing:
            self.transport.close()  # after the replies above are flushed

    def _process(self, replies: list[bytes]) -> None:
        while not self.closing:
            if self.data is not None:
                if not self._end_of_data(replies):
                    return
                continue
            end = self.buffer.find(b"\n")
            if end < 0:
                if len(self.buffer) > MAX_COMMAND_LINE:
                    replies.append(b"500 5.5.2 Line too long\r\n")
                    self.closing = True
                return
            line = bytes(self.buffer[:end]).rstrip(b"\r")
            del self.buffer[: end + 1]  # cheap: bytearray drops a prefix without copying the rest
            self._command(line, replies)

    def _end_of_data(self, replies: list[bytes]) -> bool:
        """Finish the message if its terminator has arrived; False while more data is needed."""
        data = self.data
        assert data is not None
        end = data.find(TERMINATOR, self.scanned)
        if end < 0:
            if len(data) > MAX_MESSAGE_SIZE + len(CRLF):
                self.too_big = True
                del data[:-4]  # keep what could be the start of a terminator split across reads
            self.scanned = max(0, len(data) - 4)
            return False
        self.buffer = data[end + len(TERMINATOR) :]  # pipelined commands after the message
        self.data = None
        if self.too_big:
            replies.append(b"552 5.3.4 Message size exceeds fixed maximum message size\r\n")
        else:
            content = bytes(data[: end + 2].replace(b"\r\n..", b"\r\n.")[2:])
            assert self.sender is not None
            seq = self.store.add(self.sender, self.recipients, content)
            replies.append(b"250 2.0.0 OK queued as %d\r\n" % seq)
        self._reset_transaction()
        return True

    def _reset_transaction(self) -> None:
        self.sender = None
        self.recipients = []
        self.too_big = False

    def _command(self, line: bytes, replies: list[bytes]) -> None:
        verb_bytes, _, argument_bytes = line.partition(b" ")
        verb = verb_bytes.upper()
        argument = argument_bytes.decode("utf-8", "replace").strip()
        if verb == b"MAIL":
            replies.append(self._mail(argument))
        elif verb == b"RCPT":
            replies.append(self._rcpt(argument))
        elif verb == b"DATA":
            if argument:
                replies.append(b"501 5.5.4 DATA takes no arguments\r\n")
            elif self.sender is None or not self.recipients:
                replies.append(b"503 5.5.1 Need MAIL and RCPT first\r\n")
            else:
                self.data = bytearray(CRLF) + self.buffer
                self.buffer = bytearray()
                self.scanned = 0
                replies.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb in (b"EHLO", b"HELO"):
            if not argument:
                replies.append(b"501 5.5.4 %s needs a domain\r\n" % verb)
                return
            self.greeted = True
            self._reset_transaction()
            hello = b"250%s" % (b"-" if verb == b"EHLO" else b" ")
            replies.append(hello + NAME + b" greets " + argument_bytes.strip() + CRLF)
            if verb == b"EHLO":
                replies.append(EHLO_EXTENSIONS)
        elif verb == b"RSET":
            self._reset_transaction()
            replies.append(b"250 2.0.0 OK\r\n")
        elif verb == b"NOOP":
            replies.append(b"250 2.0.0 OK\r\n")
        elif verb == b"QUIT":
            replies.append(b"221 2.0.0 Bye\r\n")
            self.closing = True
        elif not verb:
            replies.append(b"500 5.5.2 Empty command\r\n")
        else:
            replies.append(b"502 5.5.2 Command not recognized\r\n")

    def _mail(self, argument: str) -> bytes:
        if not self.greeted:
            return b"503 5.5.1 Send EHLO or HELO first\r\n"
        if self.sender is not None:
            return b"503 5.5.1 Sender already given\r\n"
        parsed = _address_and_parameters(argument, "FROM:")
        if parsed is None:
            return b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
        address, parameters = parsed
        error = _mail_parameters_error(parameters)
        if error:
            return error
        self.sender = address
        return b"250 2.1.0 OK\r\n"

    def _rcpt(self, argument: str) -> bytes:
        if self.sender is None:
            return b"503 5.5.1 Need MAIL first\r\n"
        parsed = _address_and_parameters(argument, "TO:")
        if parsed is None or not parsed[0]:
            return b"501 5.5.4 Syntax: RCPT TO:<address>\r\n"
        address, parameters = parsed
        if parameters:
            return b"555 5.5.4 RCPT TO parameters not recognized\r\n"
        if len(self.recipients) >= MAX_RECIPIENTS:
            return b"452 4.5.3 Too many recipients\r\n"
        self.recipients.append(address)
        return b"250 2.1.5 OK\r\n"


# --- Control port (HTTP) -------------------------------------------------------


def _route(store: Store, method: str, target: str) -> tuple[int, str, bytes]:
    url = urlsplit(target)
    routes = {"/stats": "GET", "/messages": "GET", "/bodies": "GET", "/reset": "POST"}
    if url.path not in routes:
        return 404, "text/plain", b"not found\n"
    if method != routes[url.path]:
        return 405, "text/plain", b"method not allowed\n"
    if url.path == "/bodies":
        return 200, "text/plain; charset=utf-8", store.bodies_text()
    if url.path == "/reset":
        store.reset()
        payload: Any = store.stats()
    elif url.path == "/messages":
        limit = parse_qs(url.query).get("limit", ["100"])[-1]
        if not limit.isdigit():
            return 400, "text/plain", b"limit must be a whole number\n"
        payload = store.recent(int(limit))
    else:
        payload = store.stats()
    return 200, "application/json", json.dumps(payload).encode()


async def _serve_control(store: Store, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        for header in header_lines:
            name, _, value = header.partition(":")
            if name.strip().lower() == "content-length" and value.strip().isdigit():
                await reader.readexactly(min(int(value), 1 << 20))  # a body is allowed, and ignored
        status, content_type, body = _route(store, method, target)
    except ValueError:
        status, content_type, body = 400, "text/plain", b"bad request\n"
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        writer.close()
        return
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}[status]
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    writer.close()


# --- Process ------------------------------------------------------------------


async def serve(
    *,
    port: int,
    control_port: int,
    keep_bodies: int,
    max_records: int,
    ready: Callable[[int, int], None],
    exit_with_stdin: bool = False,
) -> None:
    """Listen until SIGTERM or SIGINT (or standard input closes, if asked); port 0 means any free port."""
    loop = asyncio.get_running_loop()
    store = Store(keep_bodies=keep_bodies, max_records=max_records)
    sessions: set[SmtpSession] = set()
    smtp = await loop.create_server(lambda: SmtpSession(store, sessions), HOST, port, backlog=1024)
    control = await asyncio.start_server(lambda r, w: _serve_control(store, r, w), HOST, control_port)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if exit_with_stdin:
        stdin = sys.stdin.fileno()

        def stop_at_eof() -> None:
            if not os.read(stdin, 4096):
                loop.remove_reader(stdin)
                stop.set()

        loop.add_reader(stdin, stop_at_eof)
    # Each message leaves a few small objects behind (its record); with the
    # default thresholds the garbage collector rescans them so often that it
    # costs about a third of the per-message Python time.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    ready(smtp.sockets[0].getsockname()[1], control.sockets[0].getsockname()[1])
    await stop.wait()
    smtp.close()
    control.close()
    # Server.wait_closed() would wait for every client to hang up; a sink being
    # stopped owes its clients nothing.
    for session in list(sessions):
        if session.transport is not None:
            session.transport.abort()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.smtp_sink", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="SMTP port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--control-port", type=int, default=0, help="HTTP control port on 127.0.0.1 (0: any)")
    parser.add_argument("--keep-bodies", type=int, default=0, metavar="N", help="keep the first N full messages")
    parser.add_argument(
        "--max-records", type=int, default=DEFAULT_MAX_RECORDS, metavar="N", help="per-message records kept"
    )
    parser.add_argument(
        "--exit-with-stdin",
        action="store_true",
        help="also stop when standard input closes (SmtpSink's child never outlives its parent)",
    )
    args = parser.parse_args(argv)

    def ready(smtp_port: int, control_port: int) -> None:
        print(f"ready smtp={smtp_port} control={control_port}", flush=True)

    asyncio.run(
        serve(
            port=args.port,
            control_port=args.control_port,
            keep_bodies=args.keep_bodies,
            max_records=args.max_records,
            ready=ready,
            exit_with_stdin=args.exit_with_stdin,
        )
    )


# --- From Python ----------------------------------------------------------------


class SmtpSink:
    """The sink in a child process on free ports, and a client for its control port.

    Use as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(
        self, *, keep_bodies: int = 0, max_records: int = DEFAULT_MAX_RECORDS, startup_timeout: float = 10.0
    ) -> None:
        self.keep_bodies = keep_bodies
        self.max_records = max_records
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._port = 0
        self._control_port = 0

    def start(self) -> Self:
        if self._process is not None:
            raise RuntimeError("the SMTP sink is already running")
        command = [sys.executable, "-m", "bench.smtp_sink", "--port", "0", "--control-port", "0"]
        command += ["--keep-bodies", str(self.keep_bodies), "--max-records", str(self.max_records)]
        # The child stops when our end of its stdin closes: when stop() is
        # never called, even when this process is killed.
        command += ["--exit-with-stdin"]
        process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = _first_line(process, self.startup_timeout)
        match = re.fullmatch(rb"ready smtp=(\d+) control=(\d+)\n", line)
        if match is None:
            process.kill()
            process.wait()
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()
            raise RuntimeError(f"the SMTP sink did not start (exit code {process.returncode}): {line!r}")
        self._process = process
        self._port, self._control_port = int(match[1]), int(match[2])
        return self

    def stop(self, timeout: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        """The sink's process, while it runs (benchmarks count its CPU time)."""
        return self._process.pid if self._process is not None else None

    @property
    def port(self) -> int:
        self._require_running()
        return self._port

    @property
    def control_port(self) -> int:
        self._require_running()
        return self._control_port

    @property
    def url(self) -> str:
        """The sink as an ``EMAIL_URL``."""
        return f"smtp://{HOST}:{self.port}"

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self._request("GET", "/stats"))
        return result

    def messages(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` records, oldest first."""
        result: list[dict[str, Any]] = json.loads(self._request("GET", f"/messages?limit={limit}"))
        return result

    def bodies(self) -> list[bytes]:
        """The kept messages, exactly as received after dot-unstuffing."""
        text = self._request("GET", "/bodies")
        bodies, position = [], 0
        while position < len(text):
            match = _BODY_HEADER.match(text, position)
            assert match is not None, text[position : position + 80]
            start = match.end()
            bodies.append(text[start : start + int(match[1])])
            position = start + int(match[1]) + len(CRLF)
        return bodies

    def reset(self) -> None:
        self._request("POST", "/reset")

    def wait_for(self, count: int, timeout: float = 10.0) -> dict[str, Any]:
        """Poll until at least ``count`` messages have arrived; return the stats, or fail the test with them."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if stats["messages"] >= count:
                return stats
            if time.monotonic() >= deadline:
                raise AssertionError(f"expected {count} messages within {timeout} s; the sink has {stats}")
            time.sleep(0.02)

    def _require_running(self) -> None:
        if self._process is None:
            raise RuntimeError("the SMTP sink is not running: call start() or use it in a with block")

    def _request(self, method: str, path: str) -> bytes:
        connection = http.client.HTTPConnection(HOST, self.control_port, timeout=10)
        try:
            connection.request(method, path)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"{method} {path} on the SMTP sink: {response.status} {body!r}")
        return body


def _first_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The child's first line of output, read without blocking past ``timeout``."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    line = b""
    deadline = time.monotonic() + timeout
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break  # the child exited
        line += chunk
    return line


if __name__ == "__main__":
    main()
