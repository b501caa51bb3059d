"""The drops' mailer: the MIME it writes, SMTP against real servers on loopback (pipelined or not), Django's way."""

import asyncio
import email
import email.policy
import io
import smtplib
from collections.abc import Iterator
from contextlib import closing

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.test import override_settings

from musicdrops.console_mail import ConsoleBackend
from musicdrops.drops.mailer import Email, envelope, is_permanent, mime_bytes, send_each
from musicdrops.env import mailer_config
from scripts.localredis import free_port
from tests.integration.faults import FaultySmtp

TEXT = (
    "Hi ✨\n"
    "Rock & Roll — a line that is quite a bit longer than seventy-six characters, to make quoted-printable wrap it\n"
    ".dot at start\n"
)
HTML = "<p>Sigur Rós &amp; <b>坂本龍一</b></p>\n" * 20


def message(to: str, text: str = "plain", **fields: str) -> Email:
    values = {"subject": "S", "html": "<p>h</p>", "from_email": "MusicDrops <drops@example.com>"} | fields
    return Email(to=to, text=text, headers={}, subject=values["subject"], html=values["html"],
                 from_email=values["from_email"])  # fmt: skip


def parse(raw: bytes) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def send_all(keys: list[str], build=lambda key: message(f"{key}@example.com"), using: str = "test"):
    with closing(send_each(((key, build(key)) for key in keys), using=using)) as results:
        return list(results)


def test_what_we_write_is_what_the_standard_parser_reads():
    raw = mime_bytes(Email(
        from_email="MusicDrops <drops@example.com>", to="fan@example.com", subject="New music for June 1, 2026 — ✨",
        text=TEXT, html=HTML, headers={"Message-ID": "<x@example.com>", "List-Unsubscribe": "<https://e/u/1>"},
    ))  # fmt: skip

    parsed = parse(raw)
    assert parsed["Subject"] == "New music for June 1, 2026 — ✨"
    assert parsed["From"] == "MusicDrops <drops@example.com>"
    assert parsed["To"] == "fan@example.com"
    assert parsed["Message-ID"] == "<x@example.com>"
    assert parsed["List-Unsubscribe"] == "<https://e/u/1>"
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.iter_parts()
    # Lines travel as CRLF, as SMTP wants them.
    assert text.get_content().replace("\r\n", "\n") == TEXT
    assert html.get_content().replace("\r\n", "\n") == HTML
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only


@pytest.mark.parametrize("field", ["subject", "to"])
def test_line_breaks_cannot_inject_headers(field):
    with pytest.raises(ValueError, match="line breaks"):
        mime_bytes(message(**{"to": "fan@example.com", field: "x\r\nBcc: victim@example.com"}))


@pytest.mark.parametrize(
    ("to", "header"),
    [
        ("fan@example.com", "fan@example.com"),
        ("Fan <fan@example.com>", "Fan <fan@example.com>"),
        ("Sigur Rós <fan@example.com>", "=?utf-8?q?Sigur_R=C3=B3s?= <fan@example.com>"),
    ],
)
def test_bare_addresses_go_as_they_are_and_named_ones_are_encoded(to, header):
    raw = mime_bytes(message(to))

    assert f"\r\nTo: {header}\r\n".encode() in raw
    assert parse(raw)["To"].addresses[0].addr_spec == "fan@example.com"
    assert envelope(message(to)) == ("drops@example.com", ["fan@example.com"])


@pytest.mark.parametrize("to", ["fän@example.com", "fan@exämple.com", ""])
def test_addresses_we_cannot_send_to_are_refused(to):
    with pytest.raises(ValueError, match="cannot send"):
        mime_bytes(message(to))


class RefusingHandler:
    def __init__(self, *, pipelining: bool) -> None:
        self.pipelining = pipelining
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        """Offer PIPELINING or not (aiosmtpd reads commands in order either way), so both paths are tested."""
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]] if self.pipelining else responses

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


@pytest.fixture(params=[True, False], ids=["pipelined", "one-by-one"])
def server(request) -> Iterator[RefusingHandler]:
    handler = RefusingHandler(pipelining=request.param)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, loop=asyncio.new_event_loop())
    controller.start()
    with override_settings(MAILERS={"test": mailer_config(f"smtp://127.0.0.1:{port}")}):
        yield handler
    controller.stop()


def test_a_stream_of_messages_is_delivered_in_order_and_each_is_reported_as_it_is_accepted(server):
    keys = ["a", "b", "c", "d"]

    results = send_all(keys, lambda key: message(f"{key}@example.com", f".{key} starts with a dot\n..two\n"))

    assert results == [(key, None) for key in keys]
    assert [recipients for recipients, _ in server.received] == [[f"{key}@example.com"] for key in keys]
    for key, (_, content) in zip(keys, server.received, strict=True):
        assert f".{key} starts with a dot\r\n..two".encode() in content  # dots were stuffed and unstuffed


def test_a_refused_recipient_or_an_unwritable_address_stops_only_that_message(server):
    results = send_all(["a", "gone", "fän", "b", "gone", "c"])

    assert [(key, type(error).__name__ if error else None) for key, error in results] == [
        ("a", None),
        ("gone", "SMTPRecipientsRefused"),
        ("fän", "ValueError"),
        ("b", None),
        ("gone", "SMTPRecipientsRefused"),
        ("c", None),
    ]
    assert [recipients for recipients, _ in server.received] == [
        ["a@example.com"],
        ["b@example.com"],
        ["c@example.com"],
    ]


def test_a_4xx_at_rcpt_or_at_the_messages_end_is_reported_as_temporary_and_the_stream_goes_on(server):
    keys = ["a", "grey", "b", "busy", "gone", "c"]

    results = dict(send_all(keys))

    assert [k for k, error in results.items() if error is None] == ["a", "b", "c"]
    grey, busy, gone = results["grey"], results["busy"], results["gone"]
    assert grey is not None
    assert busy is not None
    assert gone is not None
    assert not is_permanent(grey)  # greylisting: try later
    assert not is_permanent(busy)
    assert is_permanent(gone)
    assert is_permanent(ValueError("an address we cannot write"))
    assert [rcpt for rcpt, _ in server.received] == [["a@example.com"], ["b@example.com"], ["c@example.com"]]


def test_the_bytes_and_envelope_we_wrote_are_what_the_server_keeps():
    with FaultySmtp() as server, override_settings(MAILERS={"test": mailer_config(server.url)}):
        sent = Email(
            subject="Hello ✨", text="plain", html="<p>html</p>", from_email="MusicDrops <drops@example.com>",
            to="fan@example.com", headers={"Message-ID": "<p@example.com>"},
        )  # fmt: skip
        assert send_all(["fan"], lambda _: sent) == [("fan", None)]
        server.wait_for(1)
        [record] = server.accepted_messages()

    assert record.rcpt_tos == ("fan@example.com",)
    assert record.message["Message-ID"] == "<p@example.com>"
    assert record.message["Subject"] == "Hello ✨"
    assert record.raw.startswith(b"From: MusicDrops <drops@example.com>\r\nTo: fan@example.com\r\nSubject: =?utf-8?")


def test_any_other_mailer_gets_a_normal_django_email_one_at_a_time(settings):
    settings.MAILERS = {"default": mailer_config("locmem://")}
    headers = {"Message-ID": "<m@example.com>", "List-Unsubscribe": "<https://e/u/1>"}

    results = send_all(["a", "fän", "b"], lambda key: Email(
        subject="S", text="plain", html="<p>html</p>", from_email="d@example.com", to=f"{key}@example.com",
        headers=headers,
    ), using="default")  # fmt: skip

    assert [(key, type(error).__name__ if error else None) for key, error in results] == [
        ("a", None), ("fän", "ValueError"), ("b", None),
    ]  # fmt: skip
    first, _ = mail.outbox
    assert isinstance(first, mail.EmailMultiAlternatives)
    assert (first.to, first.subject, first.body, first.extra_headers) == (["a@example.com"], "S", "plain", headers)
    assert first.alternatives[0][0] == "<p>html</p>"
    assert parse(first.message().as_bytes())["Message-ID"] == "<m@example.com>"


def test_a_server_that_closes_with_421_stops_the_stream():
    with FaultySmtp() as server, override_settings(MAILERS={"test": mailer_config(server.url)}):
        server.disconnect_with_421(stage="rcpt", count=1)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            send_all(["a", "b"])


def test_the_console_prints_what_a_person_reads_with_links_whole():
    link = "http://localhost:8000/accounts/verify/MTIz/" + "abcdef1234567890" * 6 + "/"
    headers = {"List-Unsubscribe": "<https://e/u/1>"}
    body = f"Hi Sigur Rós,\n{link}\n"
    message = mail.EmailMultiAlternatives(
        "Confirm your email — ✨", body, "d@example.com", ["fan@example.com"], headers=headers
    )
    message.attach_alternative("<p>Hi</p>", "text/html")
    stream = io.StringIO()

    assert ConsoleBackend(stream=stream).send_messages([message]) == 1

    printed = stream.getvalue()
    assert "Subject: Confirm your email — ✨\n" in printed
    assert "To: fan@example.com\n" in printed
    assert "List-Unsubscribe: <https://e/u/1>\n" in printed
    assert f"Hi Sigur Rós,\n{link}\n" in printed
    assert "(also has text/html parts, not shown)" in printed
