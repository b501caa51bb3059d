"""Email backends of our own."""

import re
import smtplib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.console import EmailBackend as DjangoConsoleBackend
from django.core.mail.backends.smtp import EmailBackend as DjangoSmtpBackend

from musicdrops.lib.http import retry_after_seconds
from musicdrops.lib.mime import PrebuiltEmail


class Refused(Exception):
    """An email provider's API refused one message: for good (a bad or inactive address), or for now."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class TryLater(Exception):
    """The email provider cannot take messages now (429, 5xx, unreachable): stop, and try again after a while.

    ``retry_after``: the seconds it asked for (Retry-After), if it said.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ReadableConsoleBackend(DjangoConsoleBackend):
    """Print emails as a person reads them: headers, then the decoded plain-text body.

    Django's console backend prints the MIME source, where quoted-printable
    encoding breaks long links across lines; in development the links
    (verification, password reset) are exactly what you want to click.
    """

    def write_message(self, message: Any) -> None:
        assert isinstance(message, EmailMessage)
        mime = message.message()
        lines = [f"{name}: {mime[name]}" for name in ("Message-ID", "From", "To", "Subject") if mime[name]]
        lines += [f"{name}: {value}" for name, value in message.extra_headers.items() if name.startswith("List-")]
        alternatives = getattr(message, "alternatives", [])
        if alternatives:
            lines.append("(also has " + ", ".join(alt.mimetype for alt in alternatives) + " parts, not shown)")
        self.stream.write("\n".join(lines) + "\n\n" + str(message.body) + "\n" + "-" * 79 + "\n")


def retry_after(response: Any) -> float | None:
    """A provider's HTTP answer's Retry-After, in seconds, if it has a usable one (at most an hour)."""
    headers = getattr(response, "headers", None) or {}
    return retry_after_seconds(headers.get("Retry-After"), longest=3600.0)


class SmtpBackend(DjangoSmtpBackend):
    """Django's SMTP backend; a PrebuiltEmail goes out faster.

    Its bytes and envelope were checked when it was built (Django would parse
    both addresses of every message again), and when the server offers
    PIPELINING (RFC 2920) the envelope commands go in one write: two round
    trips per message instead of four. ``send_each`` goes further for a
    stream of messages: one round trip per message.
    """

    def _send(self, email_message: Any) -> bool:
        if not isinstance(email_message, PrebuiltEmail):
            return bool(super()._send(email_message))  # type: ignore[misc]
        assert self.connection is not None
        sender, recipients = email_message.envelope()
        try:
            self.connection.ehlo_or_helo_if_needed()  # what the server offers is known after EHLO
            if self.connection.has_extn("pipelining"):
                _send_pipelined(self.connection, sender, recipients, email_message.raw)
            else:
                self.connection.sendmail(sender, recipients, email_message.raw)
        except smtplib.SMTPException:
            if not self.fail_silently:
                raise
            return False
        return True

    def send_each[K](
        self, keys: Iterable[K], build: Callable[[K], EmailMessage]
    ) -> Iterator[tuple[K, Exception | None]]:
        """See ``send_each`` below; with PIPELINING, each message's end goes in one write with the next envelope.

        RFC 2920 lets a client send the next MAIL, RCPT and DATA right after
        the "." that ends a message, so the server's "250 accepted" for one
        message and its answers to the next envelope come back together.
        """
        assert self.connection is not None, "open() the connection first"
        connection = self.connection
        connection.ehlo_or_helo_if_needed()
        if not connection.has_extn("pipelining"):
            yield from send_each_alone(self, keys, build)
            return
        # The message whose DATA the server answered with 354 (it waits for it), and who it refused.
        waiting: tuple[K, PrebuiltEmail, dict[str, tuple[int, bytes]]] | None = None
        for key in keys:
            try:
                message = build(key)
            except ValueError as error:  # an address or header we cannot write: this one only
                yield key, error
                continue
            if not isinstance(message, PrebuiltEmail):  # Django builds and sends it, unpipelined
                if waiting is not None:
                    connection.send(_data(waiting[1].raw))
                    yield waiting[0], _data_reply(connection) or _refusal(waiting[2])
                    waiting = None
                try:
                    self.send_messages([message])
                except _REFUSALS as error:
                    yield key, _unless_closing(error)
                    continue
                yield key, None
                continue
            sender, recipients = message.envelope()
            envelope = _envelope(sender, recipients)
            if waiting is None:
                connection.send(envelope)
            else:
                connection.send(_data(waiting[1].raw) + envelope)
                # The one window left: the server accepted the message and the caller has not recorded it yet.
                yield waiting[0], _data_reply(connection) or _refusal(waiting[2])
            waiting = None
            try:
                refused = _envelope_replies(connection, sender, recipients)
            except _REFUSALS as error:
                yield key, _unless_closing(error)
                continue
            waiting = (key, message, refused)
        if waiting is not None:
            connection.send(_data(waiting[1].raw))
            yield waiting[0], _data_reply(connection) or _refusal(waiting[2])


def send_each[K](
    connection: BaseEmailBackend, keys: Iterable[K], build: Callable[[K], EmailMessage]
) -> Iterator[tuple[K, Exception | None]]:
    """Send ``build(key)`` for each key, in order, on this open connection.

    Yields ``(key, None)`` as soon as the mail server has accepted that
    message, or ``(key, error)`` when the server refused this message alone
    (its sender, recipient or content; a 4xx "try later" as well as a 5xx:
    ``is_permanent`` tells them apart), or ``build`` raised ValueError (an
    address that cannot be written into a message). A connection that fails
    or closes (421) raises: the caller tries again later. A provider's API
    that cannot take messages now raises ``TryLater``.
    """
    if callable(getattr(connection, "send_each", None)):  # SMTP pipelining, a provider's batch endpoint
        each: Iterator[tuple[K, Exception | None]] = connection.send_each(keys, build)  # type: ignore[attr-defined]
        return each
    return send_each_alone(connection, keys, build)


def send_each_alone[K](
    connection: BaseEmailBackend, keys: Iterable[K], build: Callable[[K], EmailMessage]
) -> Iterator[tuple[K, Exception | None]]:
    """Any backend (locmem in tests, an email provider's API through anymail): one ``send_messages`` per message."""
    for key in keys:
        try:
            connection.send_messages([build(key)])
        except ValueError as error:
            yield key, error
            continue
        except _REFUSALS as error:
            yield key, _unless_closing(error)
            continue
        except AnymailRecipientsRefused as error:  # the provider refused the address (invalid, inactive)
            yield key, Refused(str(error)[:300], permanent=True)
            continue
        except AnymailAPIError as error:  # 429, 5xx, a time-out, a bad token: nothing more now
            raise TryLater(str(error)[:300], retry_after(error.response)) from error
        yield key, None


# What a server answers about one message; anything else is about the connection.
_REFUSALS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


def _codes(error: Exception) -> list[int]:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return [code for code, _ in error.recipients.values()]
    if isinstance(error, smtplib.SMTPResponseException):
        return [error.smtp_code]
    return []


def _unless_closing(error: Exception) -> Exception:
    """A refusal of one message, or raise: 421 means the server is closing the connection (RFC 5321 3.8)."""
    if 421 in _codes(error):
        raise smtplib.SMTPServerDisconnected(f"the server is closing the connection: {error}") from error
    return error


def is_permanent(error: Exception) -> bool:
    """Whether a refusal ``send_each`` yielded is for good (5xx, or an unwritable address); 4xx means try later."""
    if isinstance(error, ValueError):
        return True
    if isinstance(error, Refused):
        return error.permanent
    codes = _codes(error)
    return bool(codes) and all(code >= 500 for code in codes)


def _envelope(sender: str, recipients: list[str]) -> bytes:
    return ("".join([f"MAIL FROM:<{sender}>\r\n", *(f"RCPT TO:<{r}>\r\n" for r in recipients), "DATA\r\n"])).encode(
        "ascii"
    )


def _envelope_replies(connection: smtplib.SMTP, sender: str, recipients: list[str]) -> dict[str, tuple[int, bytes]]:
    """Read the replies to MAIL, RCPT... and DATA: raise unless the server now waits for the message.

    Returns the recipients it refused, if it accepted others.
    """
    mail_reply = connection.getreply()
    rcpt_replies = {r: connection.getreply() for r in recipients}
    data_code, data_message = connection.getreply()
    if mail_reply[0] != 250:
        _abort(connection, data_code)
        raise smtplib.SMTPSenderRefused(mail_reply[0], mail_reply[1], sender)
    refused = {r: reply for r, reply in rcpt_replies.items() if reply[0] not in (250, 251)}
    if len(refused) == len(recipients):
        _abort(connection, data_code)
        raise smtplib.SMTPRecipientsRefused(refused)
    if data_code != 354:
        _abort(connection, data_code)
        raise smtplib.SMTPDataError(data_code, data_message)
    return refused  # some of them, not all: the message goes to the others


def _data(raw: bytes) -> bytes:
    """The message as SMTP's DATA carries it: lines starting with a dot get another, then CRLF.CRLF."""
    if raw.startswith(b".") or b"\n." in raw:
        raw = re.sub(rb"(?m)^\.", b"..", raw)
    return raw + (b".\r\n" if raw.endswith(b"\r\n") else b"\r\n.\r\n")


def _refusal(refused: dict[str, tuple[int, bytes]]) -> smtplib.SMTPRecipientsRefused | None:
    return smtplib.SMTPRecipientsRefused(refused) if refused else None


def _data_reply(connection: smtplib.SMTP) -> smtplib.SMTPDataError | None:
    """The answer to a message's end: None for 250, else the refusal (raised if the server is closing)."""
    code, reply = connection.getreply()
    if code == 250:
        return None
    return _unless_closing(smtplib.SMTPDataError(code, reply))  # type: ignore[return-value]


def _send_pipelined(connection: smtplib.SMTP, sender: str, recipients: list[str], raw: bytes) -> None:
    """MAIL, RCPT... and DATA in one write, then the message: the same replies smtplib checks, read in order."""
    connection.send(_envelope(sender, recipients))
    refused = _envelope_replies(connection, sender, recipients)
    connection.send(_data(raw))
    error = _data_reply(connection)
    if error is not None:
        raise error
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)


def _abort(connection: smtplib.SMTP, data_code: int) -> None:
    """Leave the server ready for the next message after a refused envelope."""
    if data_code == 354:  # it is waiting for a message: give it an empty one, then forget it
        connection.send(b".\r\n")
        connection.getreply()
    connection.rset()
