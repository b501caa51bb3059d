"""`make image` and `make image-test`: build the production image, then run every process type from it.

    python scripts/image.py build      # docker, or podman where docker is missing
    python scripts/image.py test       # build, then release, web, beat and both workers from the image

The test runs the image's processes against PostgreSQL and Redis on this machine
(DATABASE_URL and REDIS_URL name them; a database and a Redis database of its own are
used and emptied), sends a small daily drop to an SMTP server of its own, and checks
/healthz, a static file, the image's non-root user, that no process logs an error at
start, and that SIGTERM stops every process within 10 s.

Where containers can run, each process is a container on the host's network. Where
they cannot (podman builds but may not run containers on some machines), the image's
filesystem is entered instead (podman mount, then chroot as the image's own user), which
is what the container would run. Without either, the run part is skipped, saying why.
"""

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from musicdrops.ops.procfile import read_procfile  # noqa: E402
from scripts.localredis import free_port  # noqa: E402

TAG = "musicdrops:local"
USERS = 200  # plus the demo login: 201 emails
STOP_WITHIN = 10.0
ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL|Traceback|Permission denied|Control server error)\b")


class Skip(Exception):
    """The run part cannot happen here: the reason, for the reader."""


def working_engine() -> str | None:
    """docker if it answers, else podman if it does; None when neither works here."""
    for name in ("docker", "podman"):
        path = shutil.which(name)
        if path and subprocess.run([path, "info"], capture_output=True).returncode == 0:
            return path
    return None


def build(tool: str) -> None:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    command = [tool, "build", "-t", TAG, "--build-arg", f"SOURCE_VERSION={commit}"]
    if Path(tool).name == "podman":
        # Builds without a container runtime's cgroups; uses a local base image when it has one.
        command += ["--isolation=chroot", "--pull=missing"]
    started = time.monotonic()
    subprocess.run([*command, str(ROOT)], check=True)
    print(f"make image: built {TAG} in {time.monotonic() - started:.0f} s")


# --- the backing services -----------------------------------------------------------


def own_database(url: str) -> str:
    """The same server, a database of this run's own (created empty)."""
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS musicdrops_image WITH (FORCE)")
        connection.execute("CREATE DATABASE musicdrops_image")
    return urlunsplit(parts._replace(path="/musicdrops_image"))


def own_redis(url: str) -> str:
    """The same server, database 15 (the tests' runs claim 1 to 12, the benchmark 14), emptied."""
    import redis

    parts = urlsplit(url)
    mine = urlunsplit(parts._replace(path="/15"))
    redis.Redis.from_url(mine).flushdb()
    return mine


class Sink:
    """An SMTP server on loopback that counts recipients."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.recipients: list[str] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.recipients.extend(envelope.rcpt_tos)  # type: ignore[attr-defined]
        return "250 OK"

    def __enter__(self) -> "Sink":
        self.controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.controller.stop()


# --- running the image's processes --------------------------------------------------


class Runner:
    """Start a process type from the image: a container, or the image's filesystem under chroot."""

    def __init__(self, tool: str, env: dict[str, str], logs: Path) -> None:
        self.tool = tool
        self.env = env
        self.logs = logs
        self.user = self._inspect("{{.Config.User}}")
        self.workdir = self._inspect("{{.Config.WorkingDir}}") or "/"
        self.image_path = self._inspect("{{range .Config.Env}}{{println .}}{{end}}")
        self.rootfs: Path | None = None
        self.container = ""
        self.mounted: list[Path] = []
        self.started: dict[str, subprocess.Popen[bytes]] = {}
        self.mode = self._choose_mode()

    def _inspect(self, template: str) -> str:
        return subprocess.run(
            [self.tool, "image", "inspect", TAG, "--format", template], capture_output=True, text=True, check=True
        ).stdout.strip()

    def _choose_mode(self) -> str:
        if subprocess.run([self.tool, "run", "--rm", TAG, "true"], capture_output=True).returncode == 0:
            return "container"
        if Path(self.tool).name != "podman" or os.geteuid() != 0:
            raise Skip("containers cannot run here, and entering the image's filesystem needs root and podman")
        self.container = subprocess.run(
            [self.tool, "create", TAG], capture_output=True, text=True, check=True
        ).stdout.strip()
        self.rootfs = Path(
            subprocess.run(
                [self.tool, "mount", self.container], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        for source, options in (("/proc", ["--bind"]), ("/dev", ["--rbind"])):
            target = self.rootfs / source.lstrip("/")
            subprocess.run(["mount", *options, source, str(target)], check=True)
            self.mounted.append(target)
        shm = self.rootfs / "dev/shm"
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(shm)], check=True)
        self.mounted.append(shm)
        resolv = self.rootfs / "etc/resolv.conf"
        if not resolv.exists():
            resolv.write_text("")
        return "filesystem"

    def image_env(self) -> dict[str, str]:
        pairs = (line.split("=", 1) for line in self.image_path.splitlines() if "=" in line)
        return {key: value for key, value in pairs}

    def start(self, name: str, command: str, **extra: str) -> subprocess.Popen[bytes]:
        env = {**self.image_env(), **self.env, **extra}
        log = (self.logs / f"{name}.log").open("wb")
        if self.mode == "container":
            flags = [flag for key, value in env.items() for flag in ("-e", f"{key}={value}")]
            argv = [self.tool, "run", "--rm", "--name", f"musicdrops-{name}", "--network", "host", *flags, TAG]
            argv += ["bash", "-c", f"exec env {command}"]
        else:
            assert self.rootfs is not None
            user = self.user or "0:0"
            inner = f"cd {self.workdir} && exec env {command}"  # env: the line may start with VAR=value
            argv = ["chroot", f"--userspec={user}", str(self.rootfs), "/usr/bin/env", "-i"]
            argv += [f"{key}={value}" for key, value in env.items()] + ["bash", "-c", inner]
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.started[name] = process
        return process

    def output(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self, name: str) -> float:
        process = self.started[name]
        started = time.monotonic()
        if self.mode == "container":
            subprocess.run([self.tool, "kill", "--signal", "TERM", f"musicdrops-{name}"], capture_output=True)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        return time.monotonic() - started

    def close(self) -> None:
        for process in self.started.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        for target in reversed(self.mounted):
            subprocess.run(["umount", "-l", str(target)], capture_output=True)
        if self.container:
            subprocess.run([self.tool, "umount", self.container], capture_output=True)
            subprocess.run([self.tool, "rm", "-f", self.container], capture_output=True)


def wait_for(what: str, condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"make image-test: timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def uid_of(pid: int) -> int:
    """The real uid of the process, or of the first of its children that is not the launcher."""
    for candidate in [pid, *children(pid)]:
        status = Path(f"/proc/{candidate}/status").read_text()
        uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
        if Path(f"/proc/{candidate}/exe").exists() and uid != 0:
            return uid
    return 0


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        for child in map(int, text):
            found += [child, *children(child)]
    return found


@contextlib.contextmanager
def run_part(tool: str) -> Iterator[Runner]:
    database = own_database(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    broker = own_redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    with tempfile.TemporaryDirectory(prefix="image-test-") as logs, Sink() as sink:
        env = {
            "SECRET_KEY": "image-test-secret-key-not-for-production-0123456789",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SITE_URL": "http://127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "DATABASE_URL": database,
            "REDIS_URL": broker,
            "EMAIL_URL": f"smtp://127.0.0.1:{sink.port}",
            "DEFAULT_FROM_EMAIL": "MusicDrops <drops@example.com>",
            "MUSICBRAINZ_URL": "http://127.0.0.1:9/ws/2",
            "LISTENBRAINZ_URL": "http://127.0.0.1:9",
        }
        runner = Runner(tool, env, Path(logs))
        runner.sink = sink  # type: ignore[attr-defined]
        try:
            yield runner
        finally:
            runner.close()


def test(tool: str) -> int:
    build(tool)
    procfile = read_procfile()
    try:
        context = run_part(tool)
        runner = context.__enter__()
    except Skip as reason:
        print(f"make image-test: built; the run part is skipped: {reason}")
        return 0
    failures: list[str] = []
    try:
        print(f"make image-test: running every process type from the image ({runner.mode} mode, user {runner.user})")
        release = runner.start("release", procfile["release"])
        if release.wait(120) != 0:
            raise SystemExit("release failed:\n" + runner.output("release"))
        seed = runner.start("seed", f"python manage.py seed_demo --users {USERS}")
        if seed.wait(120) != 0:
            raise SystemExit("seed_demo failed:\n" + runner.output("seed"))
        port = free_port()
        web = runner.start("web", procfile["web"], PORT=str(port))
        for name in ("beat", "worker-regular", "worker-drops", "worker-important"):
            runner.start(name, procfile[name])
        site = f"http://127.0.0.1:{port}"
        wait_for("/healthz to say ok", lambda: b'"status": "ok"' in get(f"{site}/healthz")[1], 90)
        print("  /healthz: 200 ok (database, Redis, one active beat, queues and workers)")

        status, page = get(f"{site}/accounts/login/")
        stylesheet = re.search(rb'href="(/static/[^"]+\.css)"', page)
        if status != 200 or stylesheet is None:
            raise SystemExit(f"make image-test: the log-in page answered {status}, with no stylesheet")
        static_status, body = get(site + stylesheet.group(1).decode())
        if static_status != 200 or not body:
            failures.append(f"static file {stylesheet.group(1).decode()}: {static_status}")
        print(f"  static file {stylesheet.group(1).decode()}: {static_status}, {len(body)} bytes")

        uid = uid_of(web.pid)
        if uid == 0:
            failures.append("web runs as root")
        print(f"  web runs as uid {uid} (the image's USER is {runner.user})")

        send = runner.start("send", "python manage.py send_music_drops")
        if send.wait(60) != 0:
            raise SystemExit("send_music_drops failed:\n" + runner.output("send"))
        sink: Sink = runner.sink  # type: ignore[attr-defined]
        wait_for(f"{USERS + 1} emails", lambda: len(sink.recipients) >= USERS + 1, 120)
        time.sleep(2)  # anything sent twice would arrive now
        emails, people = len(sink.recipients), len(set(sink.recipients))
        if (emails, people) != (USERS + 1, USERS + 1):
            failures.append(f"{emails} emails to {people} people, {USERS + 1} expected")
        print(f"  daily drop: {emails} emails to {people} people")

        for name in ("web", "beat", "worker-regular", "worker-drops", "worker-important"):
            errors = [line for line in runner.output(name).splitlines() if ERROR_LINE.search(line)]
            if errors:
                failures.append(f"{name} logged errors: {errors[:3]}")
        for name in ("web", "beat", "worker-regular", "worker-drops", "worker-important"):
            seconds = runner.stop(name)
            if seconds > STOP_WITHIN:
                failures.append(f"{name} took {seconds:.1f} s to stop after SIGTERM")
            print(f"  {name}: gone {seconds:.1f} s after SIGTERM")
    except BaseException:
        for name in runner.started:
            print(f"--- {name}, the end of its output:\n" + "\n".join(runner.output(name).splitlines()[-25:]))
        raise
    finally:
        context.__exit__(None, None, None)
    for failure in failures:
        print(f"make image-test: FAILED: {failure}")
    if not failures:
        print("make image-test: passed")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["build", "test"])
    tool = working_engine()
    if tool is None:
        raise SystemExit("make image: neither docker nor podman works here; install one (apt-get install podman)")
    if parser.parse_args().what == "build":
        build(tool)
        return 0
    return test(tool)


if __name__ == "__main__":
    sys.exit(main())
