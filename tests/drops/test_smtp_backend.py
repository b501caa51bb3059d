"""Our SMTP backend against a real SMTP server on loopback: pipelined, and a refusal doesn't break the session."""

import asyncio
import smtplib
from collections.abc import Callable

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.test import override_settings

from musicdrops.lib.env import mailer_config
from musicdrops.lib.mail import SmtpBackend, is_permanent, send_each
from musicdrops.lib.mime import PrebuiltEmail
from scripts.localredis import free_port


class RefusingHandler:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        """Offer PIPELINING (aiosmtpd reads commands in order either way), so the pipelined path is tested."""
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("gone@"):
            return "550 5.1.1 no such user"
        if address.startswith("grey@"):
            return "451 4.7.1 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if any(r.startswith("busy@") for r in envelope.rcpt_tos):
            return "452 4.3.1 Insufficient system storage"
        self.received.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


@pytest.fixture
def server():
    handler = RefusingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, loop=asyncio.new_event_loop())
    controller.start()
    with override_settings(MAILERS={"test": mailer_config(f"smtp://127.0.0.1:{port}")}):
        yield handler
    controller.stop()


def email(to: str, body: str = "plain") -> PrebuiltEmail:
    return PrebuiltEmail(
        subject="S", text=body, html="<p>h</p>", from_email="MusicDrops <drops@example.com>", to=to, headers={}
    )


def test_a_refused_recipient_raises_and_the_next_message_goes_through_on_the_same_connection(server):
    connection = mail.mailers["test"]
    assert isinstance(connection, SmtpBackend)
    connection.open()
    try:
        assert connection.connection is not None
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            connection.send_messages([email("gone@example.com")])
        assert connection.send_messages([email("fan@example.com", ".leading dot\n..two")]) == 1
        assert connection.connection.has_extn("pipelining")  # so the pipelined path was the one taken
    finally:
        connection.close()

    [(recipients, content)] = server.received
    assert recipients == ["fan@example.com"]
    assert b"\r\n.leading dot" in content or b"\n.leading dot" in content  # dots were stuffed and unstuffed


def send_all(keys: list[str], build: Callable[[str], PrebuiltEmail]) -> list[tuple[str, Exception | None]]:
    connection = mail.mailers["test"]
    connection.open()
    try:
        return list(send_each(connection, keys, build))
    finally:
        connection.close()


def test_a_stream_of_messages_is_delivered_in_order_and_each_is_reported_as_it_is_accepted(server):
    keys = ["a", "b", "c", "d"]

    results = send_all(keys, lambda key: email(f"{key}@example.com", f".{key} starts with a dot\n"))

    assert results == [(key, None) for key in keys]
    assert [recipients for recipients, _ in server.received] == [[f"{key}@example.com"] for key in keys]
    for key, (_, content) in zip(keys, server.received, strict=True):
        assert f".{key} starts with a dot".encode() in content


def test_in_a_stream_a_refused_recipient_or_an_unwritable_address_stops_only_that_message(server):
    def build(key: str) -> PrebuiltEmail:
        if key == "unwritable":
            raise ValueError("cannot send to that")
        return email(f"{key}@example.com")

    results = send_all(["a", "gone", "unwritable", "b", "gone", "c"], build)

    assert [(key, type(error).__name__ if error else None) for key, error in results] == [
        ("a", None),
        ("gone", "SMTPRecipientsRefused"),
        ("unwritable", "ValueError"),
        ("b", None),
        ("gone", "SMTPRecipientsRefused"),
        ("c", None),
    ]
    assert [recipients for recipients, _ in server.received] == [
        ["a@example.com"],
        ["b@example.com"],
        ["c@example.com"],
    ]


def test_a_stream_goes_through_any_other_backend_one_message_at_a_time():
    from django.core.mail.backends.locmem import EmailBackend as LocmemBackend

    results = list(send_each(LocmemBackend(), ["a", "b"], lambda key: email(f"{key}@example.com")))

    assert results == [("a", None), ("b", None)]
    assert [m.to for m in mail.outbox] == [["a@example.com"], ["b@example.com"]]


def test_a_4xx_at_rcpt_or_at_the_messages_end_is_reported_as_temporary_and_the_stream_goes_on(server):
    connection = mail.mailers["test"]
    keys = ["a@example.com", "grey@example.com", "b@example.com", "busy@example.com", "gone@example.com", "c@x.org"]
    connection.open()
    try:
        results = dict(send_each(connection, keys, email))
    finally:
        connection.close()

    assert [k for k, error in results.items() if error is None] == ["a@example.com", "b@example.com", "c@x.org"]
    grey, busy, gone = (results[k] for k in ("grey@example.com", "busy@example.com", "gone@example.com"))
    assert grey is not None
    assert busy is not None
    assert gone is not None
    assert not is_permanent(grey)  # greylisting: try later
    assert not is_permanent(busy)
    assert is_permanent(gone)
    assert is_permanent(ValueError("an address we cannot write"))
    assert [rcpt for rcpt, _ in server.received] == [["a@example.com"], ["b@example.com"], ["c@x.org"]]
