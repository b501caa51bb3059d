"""The SMTP sink benchmarks count emails with: real SMTP in, an exact record of who got what out."""

import re
import select
import signal
import smtplib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.header import decode_header, make_header

import pytest
from django.core import mail
from django.core.mail import EmailMessage, make_msgid
from django.test import override_settings

from bench.smtp_sink import HOST, ROOT, SmtpSink
from musicdrops.lib.env import mailer_config

SENDER = "drops@example.com"


@pytest.fixture(scope="module")
def running_sink() -> Iterator[SmtpSink]:
    with SmtpSink(keep_bodies=10) as sink:
        yield sink


@pytest.fixture
def sink(running_sink: SmtpSink) -> SmtpSink:
    running_sink.reset()
    return running_sink


def raw_message(recipient: str, subject: str = "New releases") -> bytes:
    return (
        f"From: {SENDER}\r\nTo: {recipient}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4()}@example.com>\r\n\r\nA new album is out.\r\n"
    ).encode()


class RawClient:
    """SMTP by hand, to control exactly which bytes go out in which TCP write."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.received = b""
        assert self.replies(1) == [220]

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def replies(self, count: int) -> list[int]:
        """The codes of the next ``count`` replies (a multi-line reply counts once)."""
        codes: list[int] = []
        while len(codes) < count:
            end = self.received.find(b"\r\n")
            if end < 0:
                chunk = self.sock.recv(65536)
                assert chunk, f"connection closed after replies {codes}"
                self.received += chunk
                continue
            line, self.received = self.received[:end], self.received[end + 2 :]
            if line[3:4] != b"-":
                codes.append(int(line[:3]))
        return codes

    def nothing_more_within(self, seconds: float) -> bool:
        return not self.received and not select.select([self.sock], [], [], seconds)[0]

    def close(self) -> None:
        self.sock.close()


def test_django_smtp_backend_delivers_every_message_over_one_connection(sink: SmtpSink) -> None:
    subjects = ["Nouveautés de Björk et Sigur Rós", "New releases", "Weekly digest"]
    messages = [
        EmailMessage(
            subject=subject,
            body="A new album is out.",
            from_email=SENDER,
            to=[f"user{number}@example.com"],
            headers={"Message-ID": make_msgid(domain="example.com")},
        )
        for number, subject in enumerate(subjects)
    ]
    # The way the app reaches any SMTP server: an EMAIL_URL turned into a MAILERS entry.
    with override_settings(MAILERS={"sink": mailer_config(sink.url)}), mail.mailers["sink"] as connection:
        assert connection.send_messages(messages) == 3

    # The sink records a message before it answers 250, so no waiting is needed.
    stats = sink.stats()
    assert (stats["messages"], stats["unique_recipients"], stats["duplicates"]) == (3, 3, {})
    assert stats["connections"] == 1
    records = sink.messages()
    assert [record["recipients"] for record in records] == [message.to for message in messages]
    assert [record["message_id"] for record in records] == [message.extra_headers["Message-ID"] for message in messages]
    assert [record["subject"] for record in records[1:]] == subjects[1:]
    # A non-ASCII subject travels RFC 2047-encoded, and the sink records the
    # header exactly as received (unfolded, not decoded).
    raw_subject = records[0]["subject"]
    assert raw_subject.isascii()
    assert "=?utf-8?" in raw_subject.lower()
    assert str(make_header(decode_header(raw_subject))) == subjects[0]
    assert sink.messages(limit=1) == records[-1:]


def test_lines_starting_with_a_dot_are_unstuffed_and_counted_once(sink: SmtpSink) -> None:
    message = raw_message("reader@example.com") + b".hidden\r\n..two dots\r\n.\r\nthe end\r\n"
    with smtplib.SMTP(HOST, sink.port) as client:  # smtplib dot-stuffs each of those lines
        client.sendmail(SENDER, ["reader@example.com"], message)

    stats = sink.stats()
    assert (stats["messages"], stats["recipients"], stats["bytes"]) == (1, 1, len(message))
    assert sink.bodies() == [message]


@pytest.mark.parametrize(
    "pieces",
    [
        [b"hello\r\n", b".\r\n"],
        [b"hello\r", b"\n.\r\n"],
        [b"hello\r\n.", b"\r\n"],
        [b"hello\r\n.\r", b"\n"],
        [b"hel", b"lo\r", b"\n", b".", b"\r", b"\n"],
    ],
)
def test_a_terminator_split_across_writes_ends_the_message_once(sink: SmtpSink, pieces: list[bytes]) -> None:
    client = RawClient(sink.port)
    client.send(b"EHLO test\r\n")
    client.send(b"MAIL FROM:<a@example.com>\r\n")
    client.send(b"RCPT TO:<b@example.com>\r\n")
    client.send(b"DATA\r\n")
    assert client.replies(4) == [250, 250, 250, 354]
    client.send(b"Subject: split\r\n\r\n")
    for piece in pieces[:-1]:
        client.send(piece)
        assert client.nothing_more_within(0.02)  # also lets the sink read each piece on its own
    client.send(pieces[-1])
    assert client.replies(1) == [250]
    client.close()

    assert sink.stats()["messages"] == 1
    assert sink.bodies() == [b"Subject: split\r\n\r\nhello\r\n"]


def test_pipelined_commands_are_answered_in_order(sink: SmtpSink) -> None:
    client = RawClient(sink.port)
    client.send(
        b"EHLO test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n"
    )
    assert client.replies(5) == [250, 250, 250, 250, 354]
    client.send(
        b"..first line\r\nsecond line\r\n.\r\n"  # a message starting with a stuffed dot
        b"MAIL FROM:<a@example.com>\r\nRCPT TO:<d@example.com>\r\nDATA\r\n"
        b".\r\n"  # an empty message
        b"NOOP\r\nSHOUT\r\nRSET\r\nQUIT\r\n"
    )
    assert client.replies(9) == [250, 250, 250, 354, 250, 250, 502, 250, 221]
    client.close()

    recipients = [record["recipients"] for record in sink.messages()]
    assert recipients == [["b@example.com", "c@example.com"], ["d@example.com"]]
    assert sink.bodies() == [b".first line\r\nsecond line\r\n", b""]


def test_a_recipient_who_got_two_messages_is_reported(sink: SmtpSink) -> None:
    with smtplib.SMTP(HOST, sink.port) as client:
        client.sendmail(SENDER, ["twice@example.com"], raw_message("twice@example.com"))
        client.sendmail(SENDER, ["twice@example.com", "once@example.com"], raw_message("twice@example.com"))

    stats = sink.stats()
    assert (stats["messages"], stats["recipients"], stats["unique_recipients"]) == (2, 3, 2)
    assert stats["duplicates"] == {"twice@example.com": 2}
    assert stats["duplicated_recipients"] == 1


def test_reset_forgets_everything(sink: SmtpSink) -> None:
    with smtplib.SMTP(HOST, sink.port) as client:
        client.sendmail(SENDER, ["twice@example.com"], raw_message("twice@example.com"))
        client.sendmail(SENDER, ["twice@example.com"], raw_message("twice@example.com"))
    assert sink.stats()["messages"] == 2

    sink.reset()

    stats = sink.stats()
    assert stats.pop("cpu_seconds") > 0
    assert stats == {
        "messages": 0,
        "recipients": 0,
        "unique_recipients": 0,
        "duplicates": {},
        "duplicated_recipients": 0,
        "first_at": None,
        "last_at": None,
        "bytes": 0,
        "connections": 0,
    }
    assert sink.messages() == []
    assert sink.bodies() == []


def test_two_clients_mid_transaction_at_once_are_both_counted(sink: SmtpSink) -> None:
    with smtplib.SMTP(HOST, sink.port) as first, smtplib.SMTP(HOST, sink.port) as second:
        first.ehlo()
        first.mail(SENDER)
        first.rcpt("first@example.com")
        second.sendmail(SENDER, ["second@example.com"], raw_message("second@example.com"))
        assert first.data(raw_message("first@example.com"))[0] == 250

    stats = sink.stats()
    assert (stats["messages"], stats["unique_recipients"], stats["connections"]) == (2, 2, 2)
    assert sorted(record["recipients"][0] for record in sink.messages()) == ["first@example.com", "second@example.com"]


def test_concurrent_clients_lose_and_repeat_nothing(sink: SmtpSink) -> None:
    def send(client_number: int) -> None:
        with smtplib.SMTP(HOST, sink.port) as client:
            for number in range(200):
                recipient = f"user{client_number}-{number}@example.com"
                client.sendmail(SENDER, [recipient], raw_message(recipient))

    with ThreadPoolExecutor(2) as pool:
        for result in [pool.submit(send, 1), pool.submit(send, 2)]:
            result.result()

    stats = sink.wait_for(400, timeout=10)
    assert (stats["messages"], stats["unique_recipients"], stats["duplicates"]) == (400, 400, {})


def test_wait_for_fails_with_the_stats_when_messages_are_missing(sink: SmtpSink) -> None:
    with pytest.raises(AssertionError, match="'messages': 0"):
        sink.wait_for(1, timeout=0.1)


def start_cli(*options: str) -> tuple[subprocess.Popen[str], int]:
    """``python -m bench.smtp_sink`` on free ports; the process and its SMTP port, once it says it is ready."""
    command = [sys.executable, "-m", "bench.smtp_sink", "--port", "0", "--control-port", "0", *options]
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert select.select([process.stdout], [], [], 10)[0], "the sink printed nothing"
    ready = re.fullmatch(r"ready smtp=(\d+) control=(\d+)\n", process.stdout.readline())
    assert ready, "the sink did not say it was ready"
    return process, int(ready[1])


def stop_cli(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_sink_process_exits_cleanly_within_two_seconds_of_a_signal(signum: signal.Signals) -> None:
    process, port = start_cli()
    try:
        # A client in the middle of a message must not hold the exit up.
        client = RawClient(port)
        client.send(b"EHLO test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        assert client.replies(4) == [250, 250, 250, 354]
        client.send(b"Subject: never finished\r\n")

        started = time.monotonic()
        process.send_signal(signum)
        assert process.wait(timeout=2) == 0
        assert time.monotonic() - started < 2
        client.close()
    finally:
        stop_cli(process)


def test_the_sink_started_from_python_stops_when_its_parent_goes_away() -> None:
    process, _ = start_cli("--exit-with-stdin")  # as SmtpSink starts it
    try:
        assert process.stdin is not None
        process.stdin.close()  # what the kernel does when the parent dies
        assert process.wait(timeout=2) == 0
    finally:
        stop_cli(process)
