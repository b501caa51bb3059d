"""A local stand-in for Postmark's email API: a real HTTP server on loopback, Postmark's JSON shapes.

``POST /email`` (one message; 422 with ErrorCode 300 for a bad address, 406 for an inactive one) and
``POST /email/batch`` (up to 500 messages, HTTP 200 with one result per message, ErrorCode 0 for
accepted). Every accepted message is kept; the server can be told to answer 429 (with Retry-After),
500, 422, garbage, or to drop the connection after accepting a batch.

    with serve_postmark() as server:
        EMAIL_URL = f"postmark://{server.token}?api_url={server.url}"
        server.script("429", times=2)
"""

import collections
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "server-token-for-tests"


@dataclass
class FakePostmark:
    url: str = ""
    token: str = TOKEN
    bad: set[str] = field(default_factory=set)  # addresses answered with ErrorCode 300 (invalid)
    inactive: set[str] = field(default_factory=set)  # ErrorCode 406 (Postmark's own suppression)
    accepted: list[Any] = field(default_factory=list)  # each message, or its recipient
    requests: list[tuple[str, int]] = field(default_factory=list)  # (path, messages in it)
    _scripted: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_at: float | None = None  # when the last message was accepted (time.time())
    keep_messages: bool = True  # False: only each recipient (a million 8 KB messages would not fit in memory)

    def script(self, answer: str, *, times: int = 1) -> None:
        """The next ``times`` requests get ``answer``: "429", "500", "422" (the request refused whole), "garbage",
        or "drop" (accept, then hang up)."""
        self._scripted += [answer] * times

    def recipients(self) -> list[str]:
        return [m if isinstance(m, str) else m["To"] for m in self.accepted]

    # What the benchmark asks of a sink (bench/daily_send.py), as of PostfixSink.

    def reset(self) -> None:
        with self.lock:
            self.accepted.clear()
            self.requests.clear()
            self.last_at = None

    def wait_for(self, count: int, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while len(self.accepted) < count:
            if time.monotonic() >= deadline:
                raise AssertionError(f"expected {count} messages within {timeout} s; Postmark has {len(self.accepted)}")
            time.sleep(0.02)
        return len(self.accepted)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            counts = collections.Counter(self.recipients())
            return {
                "messages": len(self.accepted),
                "unique_recipients": len(counts),
                "duplicates": {r: n for r, n in counts.items() if n > 1},
                "last_at": self.last_at,
                "requests": len(self.requests),
            }

    def header(self, message: dict[str, Any], name: str) -> str:
        return str(next(h["Value"] for h in message.get("Headers", []) if h["Name"] == name))

    def answer(self, path: str, token: str, body: Any) -> tuple[int, dict[str, str], bytes | None]:
        with self.lock:
            messages = body if isinstance(body, list) else [body]
            self.requests.append((path, len(messages)))
            if token != self.token:
                return 401, {}, _json({"ErrorCode": 10, "Message": "No Account or Server API tokens were supplied"})
            scripted = self._scripted.pop(0) if self._scripted else ""
            if scripted == "429":
                return 429, {"Retry-After": "1"}, _json({"ErrorCode": 429, "Message": "Rate limit exceeded"})
            if scripted == "500":
                return 500, {}, _json({"ErrorCode": 500, "Message": "Internal server error"})
            if scripted == "422":
                return 422, {}, _json({"ErrorCode": 402, "Message": "Invalid JSON"})
            if scripted == "garbage":
                return 200, {"Content-Type": "text/html"}, b"<html>Service Unavailable</html>"
            results = [self._one(m) for m in messages]
            if scripted == "drop":
                return 0, {}, None  # accepted, and the answer never comes
            if path == "/email":
                [result] = results
                return (200 if result["ErrorCode"] == 0 else 422), {}, _json(result)
            return 200, {}, _json(results)

    def _one(self, message: dict[str, Any]) -> dict[str, Any]:
        to = str(message.get("To", ""))
        if to in self.bad:
            return {"ErrorCode": 300, "Message": f"Invalid 'To' address: '{to}'.", "To": to}
        if to in self.inactive:
            return {"ErrorCode": 406, "Message": "You tried to send to recipient(s) that have been marked as "
                    "inactive.", "To": to}  # fmt: skip
        self.accepted.append(message if self.keep_messages else to)
        self.last_at = time.time()
        return {"ErrorCode": 0, "Message": "OK", "MessageID": str(uuid.uuid4()), "To": to,
                "SubmittedAt": "2026-12-02T07:00:00.0000000Z"}  # fmt: skip


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


@contextmanager
def serve_postmark() -> Iterator[FakePostmark]:
    fake = FakePostmark()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except ValueError:
                body = None
            status, headers, payload = fake.answer(self.path, self.headers.get("X-Postmark-Server-Token", ""), body)
            if payload is None:
                self.close_connection = True
                self.connection.close()
                return
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
