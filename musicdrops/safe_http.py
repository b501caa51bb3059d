"""POSTing to a URL a user gave us, safely: the one place such a request is made.

https only (http when ``SAFE_HTTP_ALLOW_HTTP``: development and tests); the name is resolved once and the request
goes to that address, checked, with the original Host and SNI, so DNS rebinding between check and connect cannot
win; never loopback, private, link-local, unique-local, multicast, unspecified or metadata addresses (loopback only
when ``SAFE_HTTP_ALLOW_LOOPBACK``: tests' local servers); redirects are refused, not followed; connect and read
time-outs, a whole-request deadline and a response-size limit.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_BODY = 64 * 1024  # bytes of an answer we read; the rest is refused
# Cloud metadata services that are not in a private range (AWS's IPv6 one is unique-local, but say it anyway).
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


class Refused(ValueError):
    """The URL or the address it resolves to is not one we fetch: for good, not worth a retry."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def check_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of ``url``, or Refused with the reason: its shape only, no DNS."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise Refused(f"not a URL: {error}") from None
    schemes = ("https", "http") if settings.SAFE_HTTP_ALLOW_HTTP else ("https",)
    if parts.scheme not in schemes:
        raise Refused("the address must start with https://")
    if not parts.hostname:
        raise Refused("the address has no host name")
    if parts.username or parts.password:
        raise Refused("the address must not carry a user name or password")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def check_address(address: str) -> None:
    """Refused unless ``address`` (an IP) is a public one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback and settings.SAFE_HTTP_ALLOW_LOOPBACK:
        return
    if ip in METADATA or not ip.is_global or ip.is_multicast or ip.is_loopback or ip.is_unspecified:
        raise Refused(f"the address resolves to {ip}, which is not a public address")


def resolve(host: str, port: int) -> str:
    """The first address ``host`` resolves to, checked: the one we then connect to. Every address must pass."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise OSError(f"cannot resolve {host}: {error}") from None
    addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        check_address(address)
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address we checked, whatever the name resolves to now."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, address=address, timeout=timeout)
        self.tls = ssl.create_default_context()

    def connect(self) -> None:
        super().connect()
        self.sock = self.tls.wrap_socket(self.sock, server_hostname=self.host)  # SNI and the certificate: the name


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Answer:
    """POST ``body`` to ``url``. Refused: the URL or its address is not allowed; OSError (time-outs too): try later."""
    scheme, host, port, path = check_url(url)
    deadline = time.monotonic() + settings.SAFE_HTTP_TOTAL_SECONDS
    address = resolve(host, port)
    kind = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = kind(host, port, address=address, timeout=settings.SAFE_HTTP_CONNECT_SECONDS)
    try:
        connection.connect()
        connection.sock.settimeout(settings.SAFE_HTTP_READ_SECONDS)
        connection.request("POST", path, body=body, headers={"User-Agent": "MusicDrops", **headers})
        response = connection.getresponse()
        data = b""
        while chunk := response.read(min(16384, MAX_BODY + 1 - len(data))):
            data += chunk
            if len(data) > MAX_BODY:
                raise Refused(f"the answer is longer than {MAX_BODY} bytes")
            if time.monotonic() > deadline:
                raise TimeoutError("the answer took too long")
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    except http.client.HTTPException as error:
        raise OSError(f"bad HTTP answer: {type(error).__name__}") from None
    finally:
        connection.close()
