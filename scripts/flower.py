"""`make flower`: Flower against the stack `make run` started, on http://127.0.0.1:5555 (docs/operators.md).

`make run` starts a private Redis on a free port when REDIS_URL is unset (scripts/devstack.py): this
finds it by asking each redis-server on this machine for its directory. With REDIS_URL set, Flower
watches that Redis instead: a deployed app's, say. Flower listens on loopback either way; its API is
open without a login only for a Redis on this machine, and a remote one needs FLOWER_BASIC_AUTH.
"""

import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import redis

ROOT = Path(__file__).resolve().parent.parent
PRIVATE_REDIS_DIR = ROOT / "var" / "redis"  # where scripts/devstack.py starts its Redis
# A running redis-server names itself "redis-server 127.0.0.1:6379" in ps (its process title).
TITLE = re.compile(r"redis-server\S*\s+(\S+):(\d+)\b")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"  # the settings' own default
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


# Flower's own settings for this app, on every platform: a pool that holds the up to 9 broadcasts it
# runs at once (each takes two connections: with fewer it can wait forever), and no "enable events"
# broadcast every 5 s (the workers send their events from the start: CELERY_WORKER_SEND_TASK_EVENTS).
ENV = {"BROKER_POOL_LIMIT": "10"}
OPTIONS = ["--enable_events=False"]


def command(*, port: int | str, address: str = "127.0.0.1") -> list[str]:
    """Flower as an operator runs it, from the Procfile's code and settings (ENV on top)."""
    return ["celery", "-A", "musicdrops", "flower", *OPTIONS, f"--address={address}", f"--port={port}"]


def line(*, port: int | str = "$PORT", address: str = "0.0.0.0") -> str:  # noqa: S104 (a platform's web service)
    """The same as one shell line, like the Procfile's: a platform's start command for Flower."""
    return " ".join([*(f"{name}={value}" for name, value in ENV.items()), *command(port=port, address=address)])


def make_run_redis() -> str | None:
    """The URL of the private Redis a running `make run` started, if there is one."""
    listing = subprocess.run(["ps", "-ax", "-o", "args="], capture_output=True, text=True, check=False).stdout
    for host, port in TITLE.findall(listing):
        url = f"redis://{'127.0.0.1' if host in {'*', '0.0.0.0'} else host}:{port}/0"  # noqa: S104 (a comparison)
        with contextlib.suppress(redis.RedisError):
            client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5, decode_responses=True)
            if client.config_get("dir").get("dir") == str(PRIVATE_REDIS_DIR):
                return url
    return None


def main() -> int:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("DEBUG", "1")
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = make_run_redis() or DEFAULT_REDIS_URL
    if urlsplit(env["REDIS_URL"]).hostname in LOOPBACK:
        env.setdefault("FLOWER_UNAUTHENTICATED_API", "true")  # a stack on this machine, Flower on loopback
    elif not env.get("FLOWER_BASIC_AUTH"):
        print("make flower: a remote Redis (a deployed app's) needs FLOWER_BASIC_AUTH=user:password", file=sys.stderr)
        return 2
    env.update(ENV)
    port = int(env.get("FLOWER_PORT", "5555"))
    redis_at = urlsplit(env["REDIS_URL"])  # its password stays out of the terminal
    print(
        f"make flower: Flower at http://127.0.0.1:{port}, watching Redis at {redis_at.hostname}:{redis_at.port}",
        flush=True,
    )
    os.chdir(ROOT)
    os.execvpe("celery", command(port=port), env)  # noqa: S606 (Flower replaces this process: Ctrl-C reaches it)


if __name__ == "__main__":
    sys.exit(main())
