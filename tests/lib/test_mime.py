import email
import email.policy

import pytest

from musicdrops.lib.mime import PrebuiltEmail, mime_bytes

TEXT = (
    "Hi ✨\n"
    "Rock & Roll — a line that is quite a bit longer than seventy-six characters, to make quoted-printable wrap it\n"
    ".dot at start\n"
)
HTML = "<p>Sigur Rós &amp; <b>坂本龍一</b></p>\n" * 20


def parse(raw: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_what_we_write_is_what_the_standard_parser_reads():
    raw = mime_bytes(
        from_email="MusicDrops <drops@example.com>", to="fan@example.com", subject="New music for June 1, 2026 — ✨",
        text=TEXT, html=HTML, headers={"Message-ID": "<x@example.com>", "List-Unsubscribe": "<https://e/u/1>"},
    )  # fmt: skip

    message = parse(raw)
    assert message["Subject"] == "New music for June 1, 2026 — ✨"
    assert message["From"] == "MusicDrops <drops@example.com>"
    assert message["To"] == "fan@example.com"
    assert message["Message-ID"] == "<x@example.com>"
    assert message["List-Unsubscribe"] == "<https://e/u/1>"
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    # Lines travel as CRLF, as SMTP wants them.
    assert text.get_content().replace("\r\n", "\n") == TEXT
    assert html.get_content().replace("\r\n", "\n") == HTML
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only


@pytest.mark.parametrize("field", ["subject", "to"])
def test_line_breaks_cannot_inject_headers(field):
    values = {"subject": "Hi", "to": "fan@example.com"} | {field: "x\r\nBcc: victim@example.com"}
    with pytest.raises(ValueError, match="line breaks"):
        mime_bytes(from_email="d@example.com", text="t", html="h", headers={}, **values)


def test_a_prebuilt_email_is_still_a_normal_django_email():
    message = PrebuiltEmail(
        subject="S", text="plain", html="<p>html</p>", from_email="d@example.com", to="fan@example.com",
        headers={"Message-ID": "<m@example.com>"},
    )  # fmt: skip

    assert message.body == "plain"
    assert message.alternatives[0][0] == "<p>html</p>"
    assert message.to == ["fan@example.com"]
    assert parse(message.message().as_bytes())["Message-ID"] == "<m@example.com>"


def test_the_smtp_backend_sends_prebuilt_bytes_with_the_checked_envelope():
    from django.core import mail
    from django.test import override_settings

    from musicdrops.lib.env import mailer_config
    from tests.integration.faults import FaultySmtp

    with FaultySmtp() as server, override_settings(MAILERS={"sink": mailer_config(server.url)}):
        message = PrebuiltEmail(
            subject="Hello ✨", text="plain", html="<p>html</p>", from_email="MusicDrops <drops@example.com>",
            to="fan@example.com", headers={"Message-ID": "<p@example.com>"},
        )  # fmt: skip
        assert mail.mailers["sink"].send_messages([message]) == 1
        server.wait_for(1)
        [record] = server.accepted_messages()
        assert record.rcpt_tos == ("fan@example.com",)
        assert record.message["Message-ID"] == "<p@example.com>"
        assert record.raw.replace(b"\r\n", b"\n") in message.raw.replace(b"\r\n", b"\n")


@pytest.mark.parametrize(
    ("to", "header"),
    [
        ("fan@example.com", "fan@example.com"),
        ("Fan <fan@example.com>", "Fan <fan@example.com>"),
        ("Sigur Rós <fan@example.com>", "=?utf-8?q?Sigur_R=C3=B3s?= <fan@example.com>"),
    ],
)
def test_bare_addresses_go_as_they_are_and_named_ones_are_encoded(to, header):
    raw = mime_bytes(from_email="d@example.com", to=to, subject="S", text="t", html="h", headers={})

    assert f"\r\nTo: {header}\r\n".encode() in raw
    assert parse(raw)["To"].addresses[0].addr_spec == "fan@example.com"


@pytest.mark.parametrize("to", ["fän@example.com", "fan@exämple.com", ""])
def test_addresses_we_cannot_send_to_are_refused(to):
    with pytest.raises(ValueError, match="cannot send"):
        mime_bytes(from_email="d@example.com", to=to, subject="S", text="t", html="h", headers={})
