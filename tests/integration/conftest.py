import asyncio
import email
import email.policy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from scripts.localredis import free_port
from tests.integration.processes import Process, child_env, procfile, wait_until


@pytest.fixture
def start_process(run_dir: Path) -> Iterator[Callable[..., Process]]:
    """Start a Procfile process type (or any command) against this run's Redis and test database."""
    started: list[Process] = []
    commands = procfile()

    def start(name: str, *, command: str | None = None, **env: str) -> Process:
        process = Process(name, command or commands[name], child_env(**env), run_dir)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop(timeout=15)


@dataclass
class SmtpSink:
    """A real SMTP server on loopback that keeps every message it accepts."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        raw = envelope.original_content  # type: ignore[attr-defined]
        self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        wait_until(lambda: len(self.messages) >= count, timeout, f"{count} emails")
        return self.messages


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    sink = SmtpSink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, loop=asyncio.new_event_loop())
    controller.start()
    yield sink
    controller.stop()
