"""The drops' mailer: a chunk's emails go out on one connection, each answered for itself.

SMTP pipelined with our own MIME, Postmark's batch endpoint, else Django's mailer (docs/email-providers.md).
"""

import base64
import binascii
import re
import secrets
import smtplib
import ssl
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache
from itertools import islice
from typing import Any

import requests
from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import DNS_NAME, EmailMultiAlternatives, mailers

from musicdrops.catalog.http import retry_after_seconds

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
POSTMARK_BACKEND = "anymail.backends.postmark.EmailBackend"
BATCH_SIZE = 100  # Postmark takes 500; 100 keeps what a lost answer leaves in doubt small


type Results[K] = Generator[tuple[K, Exception | None], None, None]


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str
    from_email: str
    to: str
    headers: dict[str, str]
    attachments: tuple[tuple[str, str, str], ...] = ()  # (file name, text, MIME type)


class Refused(Exception):
    """A provider's API refused one email: for good (a bad or inactive address), or for now."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class TryLater(Exception):
    """The provider cannot take emails now (429, 5xx, unreachable); ``retry_after``: the seconds it asked for."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def send_each[K](messages: Iterable[tuple[K, Email]], *, using: str = "default") -> Results[K]:
    """Send each ``(key, email)`` in order: ``(key, None)`` once accepted, ``(key, refusal)`` for that one alone.

    A broken connection or SMTP's 421 (SMTPException, OSError), or TryLater, raises. Close it when done.
    """
    config = settings.MAILERS[using]
    backend, options = config.get("BACKEND", SMTP_BACKEND), config.get("OPTIONS", {})
    if backend == SMTP_BACKEND:
        return _smtp_send_each(options, messages)
    if backend == POSTMARK_BACKEND:
        return _postmark_send_each(options, messages, using)
    return _django_send_each(messages, using)


def is_permanent(error: Exception) -> bool:
    """Whether a refusal ``send_each`` yielded is for good (5xx, or an unwritable address); 4xx means try later."""
    if isinstance(error, ValueError):
        return True
    if isinstance(error, Refused):
        return error.permanent
    codes = _codes(error)
    return bool(codes) and all(code >= 500 for code in codes)


# --- MIME, written directly: multipart/alternative, quoted-printable UTF-8 parts, RFC 2047 headers.


def _clean(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("header values cannot contain line breaks")
    return value


def _encode_header(value: str) -> str:
    value = _clean(value)
    return value if value.isascii() else Header(value, "utf-8").encode()


_BARE_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


def _encode_address(address: str) -> str:
    return address if _BARE_ADDRESS.fullmatch(address) else _parse_address(address)


@lru_cache(maxsize=64)
def _parse_address(address: str) -> str:
    name, addr = parseaddr(_clean(address))
    if not addr or not addr.isascii():
        raise ValueError(f"cannot send to or from {address!r}")
    return formataddr((name, addr), charset="utf-8") if name else addr


def _head(email: Email, date: str) -> list[str]:
    """The headers, checked: ValueError for an address or a value that cannot be written."""
    return [
        f"From: {_encode_address(email.from_email)}",
        f"To: {_encode_address(email.to)}",
        f"Subject: {_encode_header(email.subject)}",
        f"Date: {date}",
        "MIME-Version: 1.0",
        *(f"{_clean(name)}: {_encode_header(value)}" for name, value in email.headers.items()),
    ]


def _qp(text: str) -> bytes:
    return binascii.b2a_qp(text.replace("\r\n", "\n").encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


def _part(boundary: str, kind: str) -> bytes:
    return f'\r\n--{boundary}\r\nContent-Type: text/{kind}; charset="utf-8"\r\n'.encode() + (
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    )


def mime_bytes(email: Email, *, date: str | None = None) -> bytes:
    """The email as SMTP carries it (CRLF line ends); ValueError if an address or header cannot be written."""
    boundary = "=_md_" + secrets.token_hex(12)
    alternative = f'Content-Type: multipart/alternative; boundary="{boundary}"'
    body = [
        _part(boundary, "plain"),
        _qp(email.text),
        _part(boundary, "html"),
        _qp(email.html),
        f"\r\n--{boundary}--\r\n".encode("ascii"),
    ]
    if not email.attachments:
        head = [*_head(email, date or formatdate(usegmt=True)), alternative, ""]
        return b"".join(["\r\n".join(head).encode("ascii"), *body])
    # multipart/mixed around it: the alternative first, then each file (base64 keeps its bytes, CRLF included).
    mixed = "=_mx_" + secrets.token_hex(12)
    head = [*_head(email, date or formatdate(usegmt=True)), f'Content-Type: multipart/mixed; boundary="{mixed}"', ""]
    files = [
        f'\r\n--{mixed}\r\nContent-Type: {_clean(kind)}; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n'
        f'Content-Disposition: attachment; filename="{_clean(name)}"\r\n\r\n'.encode()
        + base64.encodebytes(content.encode()).replace(b"\n", b"\r\n")
        for name, content, kind in email.attachments
    ]
    return b"".join(
        ["\r\n".join(head).encode("ascii"), f"\r\n--{mixed}\r\n{alternative}\r\n".encode(), *body, *files,
         f"\r\n--{mixed}--\r\n".encode()]
    )  # fmt: skip


@lru_cache(maxsize=64)
def _addr_spec(address: str) -> str:
    return parseaddr(address)[1]


def _bare(address: str) -> str:
    return address if "<" not in address else _addr_spec(address)


def envelope(email: Email) -> tuple[str, list[str]]:
    """SMTP's MAIL FROM and RCPT TO: the bare addresses (``mime_bytes`` checked them)."""
    return _bare(email.from_email), [_bare(email.to)]


# --- SMTP: a connection opened from the mailer's OPTIONS, as Django's SMTP backend opens it.


def _smtp_connect(options: dict[str, Any]) -> smtplib.SMTP:
    use_ssl, use_tls = bool(options.get("use_ssl")), bool(options.get("use_tls"))
    port = options.get("port") or (465 if use_ssl else 587 if use_tls else 25)
    params: dict[str, Any] = {"local_hostname": DNS_NAME.get_fqdn()}
    if options.get("timeout") is not None:
        params["timeout"] = options["timeout"]
    if use_ssl:
        params["context"] = ssl.create_default_context()
    connection = (smtplib.SMTP_SSL if use_ssl else smtplib.SMTP)(options["host"], port, **params)
    try:
        if use_tls:
            connection.starttls(context=ssl.create_default_context())
        if options.get("username") and options.get("password"):
            connection.login(options["username"], options["password"])
    except BaseException:
        connection.close()
        raise
    return connection


def _smtp_send_each[K](options: dict[str, Any], messages: Iterable[tuple[K, Email]]) -> Results[K]:
    """With PIPELINING, a message's end goes in one write with the next envelope: one round trip per email."""
    connection = _smtp_connect(options)
    try:
        connection.ehlo_or_helo_if_needed()
        pipelining = connection.has_extn("pipelining")
        waiting: tuple[K, bytes, dict[str, tuple[int, bytes]]] | None = None  # DATA answered 354: the server waits
        for key, email in messages:
            try:
                raw, (sender, recipients) = mime_bytes(email), envelope(email)
            except ValueError as error:
                yield key, error
                continue
            if not pipelining:
                try:
                    connection.sendmail(sender, recipients, raw)
                except _REFUSALS as error:
                    yield key, _unless_closing(error)
                    continue
                yield key, None
                continue
            commands = _envelope_commands(sender, recipients)
            if waiting is None:
                connection.send(commands)
            else:
                connection.send(_data(waiting[1]) + commands)
                # The one window left: the server accepted the message and the caller has not recorded it yet.
                yield waiting[0], _data_reply(connection) or _refusal(waiting[2])
            waiting = None
            try:
                refused = _envelope_replies(connection, sender, recipients)
            except _REFUSALS as error:
                yield key, _unless_closing(error)
                continue
            waiting = (key, raw, refused)
        if waiting is not None:
            connection.send(_data(waiting[1]))
            yield waiting[0], _data_reply(connection) or _refusal(waiting[2])
    finally:
        try:
            connection.quit()
        except (ssl.SSLError, smtplib.SMTPServerDisconnected):
            connection.close()


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


def _envelope_commands(sender: str, recipients: list[str]) -> bytes:
    return "".join([f"MAIL FROM:<{sender}>\r\n", *(f"RCPT TO:<{r}>\r\n" for r in recipients), "DATA\r\n"]).encode()


def _envelope_replies(connection: smtplib.SMTP, sender: str, recipients: list[str]) -> dict[str, tuple[int, bytes]]:
    """The replies to MAIL, RCPT... and DATA: raise unless the server waits for the message; return who it refused."""
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
    return refused


def _abort(connection: smtplib.SMTP, data_code: int) -> None:
    """Leave the server ready for the next message after a refused envelope."""
    if data_code == 354:  # it waits for a message: give it an empty one, then forget it
        connection.send(b".\r\n")
        connection.getreply()
    connection.rset()


def _data(raw: bytes) -> bytes:
    """The message as DATA carries it: lines starting with a dot get another, then CRLF.CRLF."""
    if raw.startswith(b".") or b"\n." in raw:
        raw = re.sub(rb"(?m)^\.", b"..", raw)
    return raw + (b".\r\n" if raw.endswith(b"\r\n") else b"\r\n.\r\n")


def _data_reply(connection: smtplib.SMTP) -> smtplib.SMTPDataError | None:
    """The answer to a message's end: None for 250, else the refusal (raised if the server is closing)."""
    code, reply = connection.getreply()
    if code == 250:
        return None
    return _unless_closing(smtplib.SMTPDataError(code, reply))  # type: ignore[return-value]


def _refusal(refused: dict[str, tuple[int, bytes]]) -> smtplib.SMTPRecipientsRefused | None:
    return smtplib.SMTPRecipientsRefused(refused) if refused else None


# --- Postmark's batch endpoint; what each of its answers means: docs/email-providers.md.

_FOR_GOOD = {300, 406}
_POSTMARK_TIMEOUT = 30  # anymail's default REQUESTS_TIMEOUT


def _postmark_setting(options: dict[str, Any], name: str, default: str = "") -> str:
    """An OPTIONS entry (EMAIL_URL's), else anymail's own setting, e.g. ANYMAIL["POSTMARK_SERVER_TOKEN"]."""
    return str(options.get(name) or getattr(settings, "ANYMAIL", {}).get(f"POSTMARK_{name.upper()}") or default)


def _postmark_send_each[K](options: dict[str, Any], messages: Iterable[tuple[K, Email]], using: str) -> Results[K]:
    api_url = _postmark_setting(options, "api_url", "https://api.postmarkapp.com/").rstrip("/") + "/"
    token, stream = _postmark_setting(options, "server_token"), _postmark_setting(options, "message_stream")
    pending = iter(messages)
    with requests.Session() as session:
        while batch := list(islice(pending, BATCH_SIZE)):
            built: list[tuple[K, Email]] = []
            for key, email in batch:
                try:
                    _head(email, "")
                except ValueError as error:
                    yield key, error
                    continue
                built.append((key, email))
            if not built:
                continue
            try:
                response = session.post(
                    api_url + "email/batch",
                    json=[_postmark_payload(email, stream) for _, email in built],
                    headers={"X-Postmark-Server-Token": token, "Accept": "application/json"},
                    timeout=_POSTMARK_TIMEOUT,
                )
            except requests.RequestException as error:
                raise TryLater(f"Postmark: {type(error).__name__}: {error}") from error
            if response.status_code == 422:
                yield from _django_send_each(built, using)
                continue
            if response.status_code == 429 or response.status_code >= 500:
                raise TryLater(f"Postmark answered {response.status_code}", _retry_after(response))
            if response.status_code != 200:
                raise TryLater(f"Postmark answered {response.status_code}: {response.text[:200]}")
            for (key, _), result in zip(built, _postmark_results(response, len(built)), strict=True):
                code, text = result.get("ErrorCode"), str(result.get("Message", ""))[:300]
                yield key, None if code == 0 else Refused(f"Postmark {code}: {text}", permanent=code in _FOR_GOOD)


def _postmark_payload(email: Email, stream: str) -> dict[str, Any]:
    headers = [{"Name": name, "Value": value} for name, value in email.headers.items()]
    files = [{"Name": name, "Content": base64.b64encode(content.encode()).decode(), "ContentType": kind}
             for name, content, kind in email.attachments]  # fmt: skip
    return {"From": email.from_email, "To": email.to, "Subject": email.subject, "TextBody": email.text,
            "HtmlBody": email.html, "Headers": headers, **({"MessageStream": stream} if stream else {}),
            **({"Attachments": files} if files else {})}  # fmt: skip


def _postmark_results(response: requests.Response, expected: int) -> list[dict[str, Any]]:
    try:
        results = response.json()
    except ValueError:
        results = None
    if not isinstance(results, list) or len(results) != expected or not all(isinstance(r, dict) for r in results):
        raise TryLater(f"Postmark's answer to a batch of {expected} is not one result per message: "
                       f"{response.text[:200]!r}")  # fmt: skip
    return results


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    return retry_after_seconds(headers.get("Retry-After"), longest=3600.0)


def django_message(email: Email) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=email.subject, body=email.text, from_email=email.from_email, to=[email.to], headers=email.headers
    )
    message.attach_alternative(email.html, "text/html")
    for name, content, kind in email.attachments:
        message.attach(name, content, kind)
    return message


def _django_send_each[K](messages: Iterable[tuple[K, Email]], using: str) -> Results[K]:
    with mailers[using] as connection:
        for key, email in messages:
            try:
                _head(email, "")
                connection.send_messages([django_message(email)])
            except ValueError as error:
                yield key, error
                continue
            except _REFUSALS as error:
                yield key, _unless_closing(error)
                continue
            except AnymailRecipientsRefused as error:
                yield key, Refused(str(error)[:300], permanent=True)
                continue
            except AnymailAPIError as error:  # 429, 5xx, a time-out, a bad token: nothing more now
                raise TryLater(str(error)[:300], _retry_after(error.response)) from error
            yield key, None
