"""Servers that fail on cue, for drills that check the daily email goes out exactly once under faults.

``FaultySmtp`` is a real SMTP server on loopback (aiosmtpd, its own event-loop
thread) whose answers the test switches at run time: slow, refusing, hanging
up with 421, or silent for a while. ``PrivatePostgres`` is a PostgreSQL server
of the test's own, to stop and start under the app (never the machine's shared
one on 5432).

EMAIL_URL and time-outs: ``musicdrops.env.mailer_config`` reads only
``tls`` from the query string; the SMTP backend's socket time-out is fixed at
20 s (``smtp://127.0.0.1:PORT?timeout=5`` is accepted and silently ignored).
It applies to the connect and to each socket read or write (each reply
waited for), not to a whole message. So against the app's real processes a
``FaultySmtp.stall`` longer than 20 s makes the client time out, and a
shorter one is only a late answer. smtplib reports a time-out waiting for a
reply as ``SMTPServerDisconnected("Connection unexpectedly closed: timed
out")`` (its ``__context__`` a ``TimeoutError``) and closes the connection; a
time-out connecting is a bare ``TimeoutError``. A test that sends in its own
process can choose another time-out with
``override_settings(MAILERS={"x": {**cfg, "OPTIONS": {**cfg["OPTIONS"], "timeout": 2}}})``
where ``cfg = mailer_config(smtp.url)``.
"""

import asyncio
import atexit
import collections
import contextlib
import email
import email.policy
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.headerregistry import AddressHeader
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import psycopg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING
from psycopg import sql

from scripts.localredis import free_port

Stage = Literal["ehlo", "mail", "rcpt", "data"]
"""Where in a transaction a fault strikes: "ehlo" also covers HELO, "data" is the answer to the message's end."""

STAGES: tuple[Stage, ...] = ("ehlo", "mail", "rcpt", "data")


@dataclass
class Fault:
    """One fault, active until its window ends, its count is used up, or ``cancel()``."""

    action: Literal["refuse", "disconnect", "stall"]
    stage: Stage | None  # None: every stage (stalls only)
    code: int = 451
    text: str = ""
    seconds: float = 0.0  # a stall with a count: how long each answer is held
    until: float | None = None  # time.monotonic() at which the window closes
    remaining: int | None = None
    addresses: frozenset[str] | None = None  # only transactions with one of these (lower-cased) addresses
    keep: bool = True
    hits: int = 0
    cancelled: bool = False

    @property
    def reply(self) -> str:
        return f"{self.code} {self.text}".rstrip()

    def cancel(self) -> None:
        self.cancelled = True  # one attribute store: safe from any thread

    def active(self, now: float) -> bool:
        return not self.cancelled and (self.until is None or now < self.until) and self.remaining != 0

    def applies(self, stage: Stage, addresses: Iterable[str]) -> bool:
        if self.stage is not None and self.stage != stage:
            return False
        return self.addresses is None or any(a.lower() in self.addresses for a in addresses)


@dataclass(frozen=True)
class Accepted:
    """A message the server took: what the app's user would receive."""

    message: EmailMessage
    mail_from: str
    rcpt_tos: tuple[str, ...]  # the envelope's recipients, as RCPT TO gave them
    raw: bytes
    # The client had gone before the "250" (it timed out during a delay or stall): a real server
    # that had the message delivers it anyway (RFC 1047), and the client will likely send it again.
    client_gone: bool
    at: float


@dataclass(frozen=True)
class Refusal:
    stage: Stage
    reply: str
    addresses: tuple[str, ...]
    disconnected: bool
    at: float

    @property
    def code(self) -> int:
        return int(self.reply[:3])


@dataclass
class _State:
    faults: list[Fault] = field(default_factory=list)
    accepted: list[Accepted] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    sessions: int = 0
    stalls: int = 0


# aiosmtpd logs every command at INFO: a drill of 3,000 messages would bury its own figures.
logging.getLogger("mail.log").setLevel(logging.WARNING)


class FaultySmtp:
    """A real SMTP server on 127.0.0.1 that advertises PIPELINING and fails on cue.

    Every switch is thread-safe and takes effect for the next answer it applies
    to, on every connection. Refusals, 421s and stalls are ``Fault`` objects:
    ``cancel()`` one, or ``clear_faults()``. Faults of a stage are checked in the
    order they were added, stalls first (so an answer can be late and a refusal).
    """

    def __init__(self, port: int | None = None, *, delay: float = 0.0, pipelining: bool = True) -> None:
        self.port = port or free_port()
        self.pipelining = pipelining
        self._lock = threading.Lock()
        self._state = _State()
        self._delay = delay
        self._rcpt_delay = 0.0
        self._controller: Controller | None = None
        self._stopping = False

    # --- lifecycle

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> Self:
        controller = Controller(self, hostname="127.0.0.1", port=self.port, loop=asyncio.new_event_loop())
        self._stopping = False
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._stopping = True  # a message cut off by the shutdown is not one the client gave up on
            self.clear_faults()  # stalled answers end at once, so the loop can shut down
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- switches (from the test thread)

    @property
    def delay(self) -> float:
        """Seconds before answering each message's end (0.01: a provider across the internet; 0.5: a slow one)."""
        return self._delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self._delay = seconds  # a float store is atomic; each answer reads it once

    @property
    def rcpt_delay(self) -> float:
        """Seconds before answering each RCPT TO."""
        return self._rcpt_delay

    @rcpt_delay.setter
    def rcpt_delay(self, seconds: float) -> None:
        self._rcpt_delay = seconds

    def refuse(
        self,
        code: int = 451,
        text: str = "4.7.1 Try again later",
        stage: Stage = "rcpt",
        seconds: float | None = None,
        count: int | None = None,
        addresses: Iterable[str] | None = None,
    ) -> Fault:
        """Answer ``code text`` at ``stage`` for ``seconds`` from now and/or ``count`` times (neither: until cancelled).

        ``addresses`` limits it to transactions with one of them (the sender at
        "mail", the recipient at "rcpt", any recipient at "data").
        """
        return self._add(Fault("refuse", stage, code, text, **self._limits(seconds, count, addresses)))

    def refuse_recipient(self, address: str, code: int = 550, text: str = "5.1.1 No such user here") -> Fault:
        """Refuse RCPT TO for this one address for good (until cancelled)."""
        return self.refuse(code, text, stage="rcpt", addresses=[address])

    def disconnect_with_421(
        self,
        stage: Stage = "rcpt",
        text: str = "4.3.2 Service shutting down, closing channel",
        seconds: float | None = None,
        count: int | None = None,
        addresses: Iterable[str] | None = None,
    ) -> Fault:
        """Answer 421 at ``stage`` and close the connection: commands the client pipelined after it get no answer."""
        return self._add(Fault("disconnect", stage, 421, text, **self._limits(seconds, count, addresses)))

    def stall(self, seconds: float, stage: Stage | None = None, count: int | None = None, keep: bool = True) -> Fault:
        """Stop answering: without ``count``, answers at ``stage`` (None: all) wait until ``seconds`` from now;
        with ``count``, each of the next ``count`` answers there waits ``seconds``.

        Meanwhile that connection reads no further commands (pipelined ones
        wait their turn, in order). A message whose end was
        answered late is kept even if the client gave up (``keep``; it is
        marked ``client_gone``): the duplicate a real server can cause. With
        ``keep=False`` such a message is dropped, like a server that had not
        committed it.
        """
        until = None if count is not None else time.monotonic() + seconds
        return self._add(Fault("stall", stage, seconds=seconds, until=until, remaining=count, keep=keep))

    def clear_faults(self) -> None:
        with self._lock:
            for fault in self._state.faults:
                fault.cancel()
            self._state.faults.clear()

    # --- what happened (from the test thread)

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self._state.accepted)

    @property
    def refused(self) -> int:
        """Refusals given, 421s included."""
        with self._lock:
            return len(self._state.refusals)

    @property
    def sessions(self) -> int:
        """EHLO/HELO greetings seen: about one per connection."""
        with self._lock:
            return self._state.sessions

    @property
    def stalls(self) -> int:
        """Answers that were held back by a stall."""
        with self._lock:
            return self._state.stalls

    @property
    def messages(self) -> list[EmailMessage]:
        """The accepted messages, oldest first (as ``SmtpSink.messages``)."""
        return [a.message for a in self.accepted_messages()]

    def accepted_messages(self) -> list[Accepted]:
        with self._lock:
            return list(self._state.accepted)

    def refusals(self) -> list[Refusal]:
        with self._lock:
            return list(self._state.refusals)

    def recipients(self) -> collections.Counter[str]:
        """How many accepted messages each To address got."""
        return collections.Counter(address for m in self.messages for address in _to_addresses(m))

    def envelope_recipients(self) -> collections.Counter[str]:
        return collections.Counter(r for a in self.accepted_messages() for r in a.rcpt_tos)

    def message_ids(self) -> dict[str, set[str]]:
        """To address -> the Message-IDs it got (a repeat of the same email has the same one)."""
        found: dict[str, set[str]] = collections.defaultdict(set)
        for message in self.messages:
            for address in _to_addresses(message):
                found[address].add(str(message["Message-ID"]))
        return dict(found)

    def wait_for(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        """Wait until ``count`` messages are accepted; return them all."""
        self.wait_until(lambda: self.accepted >= count, timeout, f"{count} accepted emails")
        return self.messages

    def wait_for_refusals(self, count: int, timeout: float = 30) -> list[Refusal]:
        self.wait_until(lambda: self.refused >= count, timeout, f"{count} refusals")
        return self.refusals()

    def wait_until(self, condition: Callable[[], object], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; {self.describe()}")
            time.sleep(0.01)

    def describe(self) -> str:
        """What the server did so far, for failure messages."""
        with self._lock:
            state = self._state
            refusals = collections.Counter(f"{r.stage}:{r.code}" for r in state.refusals)
            now = time.monotonic()
            faults = [f"{f.action} at {f.stage or 'any'} ({f.hits} hits)" for f in state.faults if f.active(now)]
            gone = sum(a.client_gone for a in state.accepted)
            return (
                f"{len(state.accepted)} accepted ({gone} after the client left), "
                f"{len(state.refusals)} refused {dict(refusals)}, {state.sessions} sessions, "
                f"{state.stalls} answers stalled, active faults: {faults or 'none'}"
            )

    # --- internals

    @staticmethod
    def _limits(seconds: float | None, count: int | None, addresses: Iterable[str] | None) -> dict[str, Any]:
        return {
            "until": None if seconds is None else time.monotonic() + seconds,
            "remaining": count,
            "addresses": None if addresses is None else frozenset(a.lower() for a in addresses),
        }

    def _add(self, fault: Fault) -> Fault:
        if fault.stage is not None and fault.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, not {fault.stage!r}")
        with self._lock:
            self._state.faults.append(fault)
        return fault

    def _take(
        self, actions: tuple[str, ...], stage: Stage, addresses: Iterable[str], skip: Iterable[Fault] = ()
    ) -> Fault | None:
        """The first active fault of these actions for this answer (but those in ``skip``), its count used once."""
        addresses = list(addresses)
        skipped = {id(f) for f in skip}
        now = time.monotonic()
        with self._lock:
            self._state.faults = [f for f in self._state.faults if f.active(now)]
            for fault in self._state.faults:
                if fault.action in actions and id(fault) not in skipped and fault.applies(stage, addresses):
                    fault.hits += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault
        return None

    async def _hold(self, stage: Stage, addresses: Iterable[str], held: list[Fault] | None = None) -> None:
        """Wait out each stall that applies to this answer, once; ``held`` collects them as they start."""
        held = [] if held is None else held
        addresses = list(addresses)
        while (fault := self._take(("stall",), stage, addresses, skip=held)) is not None:
            held.append(fault)
            with self._lock:
                self._state.stalls += 1
            end = time.monotonic() + fault.seconds if fault.until is None else fault.until
            # Short sleeps, so cancel() or clear_faults() ends a stall early.
            while time.monotonic() < end and not fault.cancelled:
                await asyncio.sleep(min(0.05, max(0.0, end - time.monotonic())))

    async def _fail(self, server: Any, stage: Stage, addresses: Iterable[str]) -> str | None:
        """The refusal to answer, if any; a 421 is sent here and the connection closed."""
        addresses = tuple(addresses)
        fault = self._take(("refuse", "disconnect"), stage, addresses)
        if fault is None:
            return None
        disconnect = fault.action == "disconnect"
        with self._lock:
            self._state.refusals.append(Refusal(stage, fault.reply, addresses, disconnect, time.monotonic()))
        if not disconnect:
            return fault.reply
        await server.push(fault.reply)
        server.transport.close()  # sends what is buffered, then connection_lost cancels this task
        await asyncio.sleep(30)
        raise ConnectionResetError("the connection did not close after a 421")

    # --- aiosmtpd hooks (on the server's event loop)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        with self._lock:
            self._state.sessions += 1
        await self._hold("ehlo", [])
        refusal = await self._fail(server, "ehlo", [])
        if refusal is not None:
            return [refusal]
        session.host_name = hostname
        if not self.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_HELO(self, server: Any, session: Any, envelope: Any, hostname: str) -> Any:
        with self._lock:
            self._state.sessions += 1
        await self._hold("ehlo", [])
        refusal = await self._fail(server, "ehlo", [])
        if refusal is not None:
            return refusal
        session.host_name = hostname
        return MISSING  # aiosmtpd's own "250 <hostname>"

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> Any:
        await self._hold("mail", [address])
        return await self._fail(server, "mail", [address]) or MISSING  # MISSING: aiosmtpd records the sender

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> Any:
        if self._rcpt_delay:
            await asyncio.sleep(self._rcpt_delay)
        await self._hold("rcpt", [address])
        return await self._fail(server, "rcpt", [address]) or MISSING

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        rcpt_tos = tuple(envelope.rcpt_tos)
        stalls: list[Fault] = []
        try:
            if self._delay:
                await asyncio.sleep(self._delay)
            await self._hold("data", rcpt_tos, stalls)
        except asyncio.CancelledError:  # the client hung up while it waited for the answer
            if all(s.keep for s in stalls) and not self._stopping:
                self._record(envelope, client_gone=True)
            raise
        keep = all(s.keep for s in stalls)
        refusal = await self._fail(server, "data", rcpt_tos)
        if refusal is not None:
            return refusal
        gone = server.transport is None or server.transport.is_closing()
        if keep or not gone:
            self._record(envelope, client_gone=gone)
        return "250 OK: queued"

    def _record(self, envelope: Any, *, client_gone: bool) -> None:
        raw: bytes = envelope.original_content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        accepted = Accepted(
            message, str(envelope.mail_from), tuple(envelope.rcpt_tos), raw, client_gone, time.monotonic()
        )
        with self._lock:
            self._state.accepted.append(accepted)


def _to_addresses(message: EmailMessage) -> list[str]:
    header = message["To"]
    if isinstance(header, AddressHeader):
        return [address.addr_spec for address in header.addresses]
    return [str(header)] if header is not None else []


# --- PostgreSQL


def postgres_bin_dir() -> Path:
    """The newest server binaries installed under /usr/lib/postgresql (Debian's layout), or those on PATH."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError("No PostgreSQL server found: apt-get install postgresql")


def _server_user() -> str | None:
    """The OS user to run initdb and postgres as: they refuse to run as root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root, and there is no postgres or nobody user to run PostgreSQL as")


def _own_dir(prefix: str, user: str | None) -> Path:
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    return directory


class PostgresTemplate:
    """A data directory made by initdb once, copied for each ``PrivatePostgres`` (a copy is ~0.05 s)."""

    SUPERUSER = "postgres"

    def __init__(self) -> None:
        self.bin_dir = postgres_bin_dir()
        self.user = _server_user()
        self.directory = _own_dir("musicdrops-pg-template-", self.user)
        self.data_dir = self.directory / "data"
        result = subprocess.run(
            # C locale and UTF8 whatever the machine's; --no-sync: nothing here needs to survive a power cut.
            [
                *(str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", self.SUPERUSER, "-A", "trust"),
                *("-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"),
            ],
            user=self.user,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            self.remove()
            raise RuntimeError(f"initdb failed:\n{result.stdout}\n{result.stderr}")

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


_template_lock = threading.Lock()
_template: PostgresTemplate | None = None


def shared_template() -> PostgresTemplate:
    """This test run's one initdb, removed when the run ends."""
    global _template
    with _template_lock:
        if _template is None:
            _template = PostgresTemplate()
            atexit.register(_template.remove)
        return _template


StopMode = Literal["smart", "fast", "immediate"]

_live: set["PrivatePostgres"] = set()


@atexit.register
def _remove_leftovers() -> None:
    """A server whose test forgot it (or a session fixture's) must not outlive the run."""
    for server in list(_live):
        server.remove()


class PrivatePostgres:
    """A PostgreSQL server of the test's own on 127.0.0.1, superuser ``postgres``, trust auth, no Unix socket.

    Its port stays the same across ``stop()`` and ``start()``, so URLs handed
    to the app's processes stay valid. fsync and full-page writes are off (a
    crash of the server loses nothing: its writes are in the OS), but commits
    still wait for their WAL write, so ``stop("immediate")`` loses no
    transaction a client saw committed.
    """

    def __init__(self, template: PostgresTemplate | None = None, port: int | None = None) -> None:
        template = template or shared_template()
        self.bin_dir = template.bin_dir
        self.user = template.user
        self.superuser = template.SUPERUSER
        self.port = port or free_port()
        self.directory = _own_dir("musicdrops-pg-", self.user)
        self.data_dir = self.directory / "data"
        self.log_path = self.directory / "postgres.log"
        # cp -a keeps the owner and the 0700 mode PostgreSQL insists on.
        subprocess.run(["cp", "-a", str(template.data_dir), str(self.data_dir)], check=True)
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": "''",  # TCP only: nothing near the shared server's /var/run/postgresql
            "fsync": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            "max_connections": "200",  # several workers, beats and web, each with its pool
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# PrivatePostgres\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        self._process: subprocess.Popen[bytes] | None = None
        _live.add(self)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.remove()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30) -> Self:
        """Start the server and wait until it accepts connections (about 0.1 s; crash recovery included)."""
        if self.running:
            return self
        with self.log_path.open("ab") as log:
            # Our own child (not pg_ctl's daemon), so we reap it and see at once if it dies.
            self._process = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(self.data_dir)],
                user=self.user,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal is for pytest, not for the server
            )
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self._process.returncode}:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready after {timeout} s:\n{self.output()[-3000:]}")
            time.sleep(0.01)
        return self

    def _ready(self) -> bool:
        # As pg_ctl -w does: the postmaster writes "ready" on postmaster.pid's 8th line.
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready" and lines[0].strip() == str(self._process_pid())

    def _process_pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def stop(self, mode: StopMode = "fast", timeout: float = 30) -> None:
        """``pg_ctl stop -m mode``: "fast" ends sessions and checkpoints; "immediate" is a crash (recovery on start)."""
        if self._process is None:
            return
        if self._process.poll() is not None:  # it had died already
            self._process = None
            return
        subprocess.run(
            [str(self.bin_dir / "pg_ctl"), "stop", "-s", "-D", str(self.data_dir), "-m", mode, "-t", str(int(timeout))],
            user=self.user,
            capture_output=True,
            check=True,
        )
        self._process.wait(timeout)
        self._process = None

    def remove(self) -> None:
        """Stop (as a crash: quickest) and delete the data."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        if self._process is not None:  # pg_ctl failed: the server is ours to kill
            self._process.kill()
            self._process.wait(10)
            self._process = None
        shutil.rmtree(self.directory, ignore_errors=True)
        _live.discard(self)

    def url(self, dbname: str = "postgres") -> str:
        """A URL for DATABASE_URL (dj-database-url) and psycopg alike."""
        return f"postgres://{self.superuser}@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres", **kwargs: Any) -> psycopg.Connection[Any]:
        """A psycopg connection (autocommit), closed by the caller; raises psycopg.OperationalError when down."""
        kwargs.setdefault("connect_timeout", 5)
        return psycopg.connect(self.url(dbname), autocommit=True, **kwargs)

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create a database (optionally a copy of another); return its URL."""
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self.connect() as connection:
            connection.execute(statement)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self.connect() as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
