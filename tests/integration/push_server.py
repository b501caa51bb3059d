"""A local ntfy- and webhook-compatible server for the push drills: counts what it accepted, per path, and can answer
429, 5xx or slowly for a while, like faults.py's SMTP server does for email."""

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    throttle_first: int = 0  # this many requests get 429 (Retry-After: 1, and Discord's retry_after) first
    fail_until: float = 0.0  # until this monotonic time, 503
    delay: float = 0.0  # seconds before each answer
    status: int = 0  # if set, every answer (a 404 for a deleted webhook, a 302 to a redirect...)
    location: str = ""
    size: int = 0  # if set, a 200 with this many bytes


@dataclass
class PushServer:
    behaviour: Behaviour = field(default_factory=Behaviour)
    accepted: Counter[str] = field(default_factory=Counter)  # path -> messages answered 2xx
    bodies: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> str:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                b = server.behaviour
                with server.lock:
                    server.requests += 1
                    throttled = server.requests <= b.throttle_first
                if b.delay:
                    time.sleep(b.delay)
                if b.size:
                    self._answer(200, b"x" * b.size)
                elif b.status:
                    self._answer(b.status, b"no", {"Location": b.location} if b.location else {})
                elif throttled:
                    self._answer(429, json.dumps({"retry_after": 1}).encode(), {"Retry-After": "1"})
                elif time.monotonic() < b.fail_until:
                    self._answer(503, b"busy")
                else:
                    with server.lock:
                        server.accepted[self.path] += 1
                        server.bodies.append((self.path, dict(self.headers.items()), body))
                    if self.path.startswith("/discord"):
                        self._answer(204, b"")
                    else:
                        self._answer(200, b"ok")

            def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that gave up (a time-out test) leaves a broken pipe: expected, not news

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
