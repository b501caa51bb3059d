"""`make run`: the whole app on one machine, from the same Procfile production uses.

Prepares the database, loads the demo data once, starts a private Redis when
none is configured, then runs every Procfile process type except `release`
with its output prefixed by name. A process that crashes is restarted, as the
platform would restart its dyno. Ctrl-C stops everything (SIGTERM, then
SIGKILL after a grace period).
"""

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from musicdrops.ops.procfile import read_procfile  # noqa: E402
from musicdrops.redis_client import client_options  # noqa: E402
from musicdrops.scheduler.heartbeat import KEY as BEAT_HEARTBEATS  # noqa: E402
from musicdrops.scheduler.heartbeat import BeatInstance  # noqa: E402
from scripts import localredis  # noqa: E402

DEMO_EMAIL = "demo@musicdrops.local"
DEMO_PASSWORD = "listen-to-more-music"  # noqa: S105 (a local demo login)
GRACE_SECONDS = 12
DEFAULT_PORT = 8000
PROBE_AGENT = "make-run-probe"  # our own /healthz polls, left out of the web's access log shown here
COLOURS = ["36", "33", "35", "32", "34", "31"]


class Runner:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.commands: dict[str, str] = {}
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.width = 8
        self.colour = sys.stdout.isatty()
        self.ready: set[str] = set()  # the workers that said "ready.", so that the banner comes after their banners

    def say(self, name: str, text: str, colour: str = "1") -> None:
        prefix = f"{time.strftime('%H:%M:%S')} {name:<{self.width}}|"
        if self.colour:
            prefix = f"\033[{colour}m{prefix}\033[0m"
        with self.lock:
            sys.stdout.write(f"{prefix} {text}\n")
            sys.stdout.flush()

    def add(self, name: str, command: str) -> None:
        self.commands[name] = command
        self.width = max(self.width, len(name))

    def _spawn(self, name: str) -> None:
        process = subprocess.Popen(
            ["bash", "-c", self.commands[name]],  # as on Heroku
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: signals reach its children too
        )
        self.processes[name] = process
        colour = COLOURS[list(self.commands).index(name) % len(COLOURS)]
        self.say(name, f"started (pid {process.pid}): {self.commands[name]}", colour)
        threading.Thread(target=self._pump, args=(name, process, colour), daemon=True).start()

    def _pump(self, name: str, process: subprocess.Popen[bytes], colour: str) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            if name.startswith("worker") and line.endswith(" ready."):
                self.ready.add(name)
            if PROBE_AGENT not in line:
                self.say(name, line, colour)
        code = process.wait()
        if self.stopping.is_set():
            self.say(name, f"exited ({code})", colour)
            return
        # Like the platform: a crashed process comes back, after a pause.
        self.say(name, f"exited unexpectedly ({code}); restarting in 2 s", "31")
        if not self.stopping.wait(2):
            self._spawn(name)

    def run(self) -> int:
        for name in self.commands:
            self._spawn(name)
        # Set explicitly: a shell starting us in the background leaves SIGINT
        # ignored, and then Ctrl-C or `kill -INT` would stop only the children,
        # which this loop would restart.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda *_: self.stopping.set())
        while not self.stopping.wait(0.5):
            pass
        return self.stop()

    def stop(self) -> int:
        self.stopping.set()
        self.say("system", "stopping every process (SIGTERM)")
        for process in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for name, process in self.processes.items():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say("system", f"{name} still running after {GRACE_SECONDS} s: SIGKILL", "31")
                _signal_group(process, signal.SIGKILL)
                process.wait()
        return 0


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def port_is_free(host: str, port: int) -> bool:
    """Nothing listens there (gunicorn's own check, in gunicorn.conf.py, would refuse it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # connections in TIME_WAIT don't count
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def choose_port(env: dict[str, str]) -> int | None:
    """PORT if given and free; else the default, or the next free one after it. None: PORT is taken."""
    host = env["HOST"]
    if env.get("PORT"):
        port = int(env["PORT"])
        if port_is_free(host, port):
            return port
        print(
            f"make run: port {port} on {host} is in use (another server?). Choose another: make run PORT={port + 1}",
            file=sys.stderr,
        )
        return None
    for port in range(DEFAULT_PORT, DEFAULT_PORT + 100):
        if port_is_free(host, port):
            if port != DEFAULT_PORT:
                print(f"make run: port {DEFAULT_PORT} is in use; using {port} (set PORT to choose)", flush=True)
            return port
    return None


def health(url: str) -> dict[str, object]:
    request = urllib.request.Request(url + "/healthz", headers={"User-Agent": PROBE_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as error:  # 503: the body still says why
        with contextlib.suppress(ValueError):
            return dict(json.loads(error.read()))
    except (OSError, ValueError):
        pass
    return {"status": "starting"}


def beat_is_up(redis_url: str) -> bool:
    """The beat has sent its first heartbeat: until then /healthz would log a warning about a beat still starting."""
    try:
        with redis.Redis.from_url(redis_url, socket_timeout=2, **client_options(redis_url)) as client:
            records: dict[bytes, bytes] = client.hgetall(BEAT_HEARTBEATS)
    except redis.RedisError:
        return False
    beats = (BeatInstance.from_record(raw.decode()) for raw in records.values())
    return any(beat and beat.role == "active" and beat.expires_at > time.time() for beat in beats)


def wait_for_stack(site: str, local: str, runner: Runner, *, sharing: bool) -> None:
    """The banner, once /healthz says every part of the stack is up (the beat's first heartbeat included)."""
    deadline = time.monotonic() + 90
    # Our first probe waits for the beat's heartbeat, so that a stack on its way up logs no "failing".
    while not beat_is_up(runner.env["REDIS_URL"]) and time.monotonic() < deadline and not runner.stopping.wait(0.5):
        pass
    report = health(local)
    while report.get("status") != "ok" and time.monotonic() < deadline and not runner.stopping.wait(0.5):
        report = health(local)
    # Last, below the workers' start-up banners, where it is seen.
    workers = {name for name in runner.commands if name.startswith("worker")}
    while not workers <= runner.ready and time.monotonic() < deadline and not runner.stopping.wait(0.2):
        pass
    if runner.stopping.is_set():
        return
    banner = [
        "",
        f"  MusicDrops is running at {site}",
        f"  Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}    An admin of your own: make superuser",
        f"  Health: {site}/healthz    Emails are printed below by worker-important/worker-drops.",
        "  Press Ctrl-C to stop.",
        "",
    ]
    if sharing:
        banner.insert(3, "  Listening on every interface (HOST=0.0.0.0): anyone on this network can reach it.")
    if report.get("status") != "ok":
        banner[1] = (
            f"  MusicDrops started at {site}, but /healthz says {report.get('status')}: {report.get('problems')}"
        )
    runner.say("system", "\n".join(banner), "1;32" if report.get("status") == "ok" else "1;31")


def main() -> int:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("DEBUG", "1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    # Loopback unless asked: DEBUG=1 and a demo login whose password is in the README.
    host = env.setdefault("HOST", "127.0.0.1")
    port = choose_port(env)
    if port is None:
        return 1
    env["PORT"] = str(port)
    env.setdefault("SITE_URL", f"http://localhost:{port}")
    local = f"http://{'127.0.0.1' if host in {'0.0.0.0', 'localhost'} else host}:{port}"  # noqa: S104 (a comparison; where the banner asks)
    sharing = host not in {"127.0.0.1", "localhost"}
    if sharing:
        env.setdefault("ALLOWED_HOSTS", "*")  # reached by this machine's address, whatever it is
    env.setdefault("EMAIL_URL", "console://")
    # One gunicorn process and small pools are plenty on a laptop.
    env.setdefault("WEB_CONCURRENCY", "1")
    # `celery --quiet` (the celery command reads CELERY_<OPTION> for its options): no start-up banners of ~45 lines
    # per worker and beat here; the platforms, which do not set it, keep them.
    env.setdefault("CELERY_QUIET", "1")

    runner = Runner(env)
    redis_process = None
    if not env.get("REDIS_URL"):
        # Beside make run's own database (var/db.sqlite3), its data is kept between runs (saved as it stops and each
        # minute), as a deployed Redis's is: else every second run began with the beat's warning that Redis had lost
        # the schedule. Beside any other database (a test's), it starts empty each time.
        keep = [] if env.get("DATABASE_URL") else ["--save", "60 1"]
        redis_process, env["REDIS_URL"] = localredis.start(directory=ROOT / "var" / "redis", extra_args=keep)
        runner.say("system", f"started a private Redis at {env['REDIS_URL']} (pid {redis_process.pid})")
    try:
        manage(env, "migrate", "--noinput")
        # Idempotent: the second run finds everything in place and adds nothing.
        manage(env, "seed_demo", "--users", "20", "--demo-email", DEMO_EMAIL, "--demo-password", DEMO_PASSWORD)
        for name, command in read_procfile().items():
            if name != "release":
                runner.add(name, command)
        threading.Thread(
            target=wait_for_stack, args=(env["SITE_URL"], local, runner), kwargs={"sharing": sharing}, daemon=True
        ).start()
        return runner.run()
    except subprocess.CalledProcessError as error:
        print(f"make run: {shlex.join(map(str, error.cmd))} failed ({error.returncode})", file=sys.stderr)
        return 1
    finally:
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
