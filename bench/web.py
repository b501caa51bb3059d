"""/healthz and the task-status endpoint under load, through gunicorn as the Procfile runs it.

- /healthz as a platform probes it, with a beat running (so the answer is 200 "ok");
- the status of a running refresh, polled by its owner the way the page does
  (session cookie, Accept: application/json, a nonce in the URL).

Production settings, PostgreSQL and Redis. The load comes from ApacheBench
(ab, Debian's apache2-utils) on the same machine, so its CPU use counts
against the figures. The bars: 1,000 probes/s and 500 polls/s (Django's whole
middleware stack and auth), p99 under 50 ms.
Single runs on a shared virtual machine can halve when a neighbour is busy;
the median of five runs is the figure to quote.

    python -m bench.web --requests 20000 --concurrency 16 --runs 5
"""

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.cpu import CpuMeter, cmdline_has, session_of
from bench.daily_send import DEFAULT_DATABASE_URL, ensure_database, procfile_command

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"


def free_port() -> int:
    from scripts.localredis import free_port as pick

    return pick()


def prepare() -> tuple[str, str]:
    """A user, a refresh of theirs that is running, and a session: (status path, session cookie)."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    from musicdrops.accounts.models import User
    from musicdrops.jobs.models import Job

    call_command("migrate", verbosity=0)
    user, _ = User.objects.get_or_create(email="bench-status@example.com")
    job = Job.objects.filter(user=user).first() or Job.objects.create(user=user, kind=Job.Kind.REFRESH_LIBRARY)
    # Running: pages poll while a refresh runs (and stop once it is done).
    figures = {"total": 12, "checked": 5, "fresh": 1, "failed": 0, "left": 0, "new_releases": 3}
    Job.objects.filter(pk=job.pk).update(state=Job.State.PROGRESS, figures=figures, started_at=timezone.now())
    client = Client()
    client.force_login(user)
    return f"/jobs/{job.id}/status/?nonce=0123456789abcdef", client.cookies[settings.SESSION_COOKIE_NAME].value


def ab(url: str, *, requests: int, concurrency: int, headers: list[str]) -> dict[str, float]:
    command = ["ab", "-q", "-k", "-n", str(requests), "-c", str(concurrency)]
    for header in headers:
        command += ["-H", header]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    figures = {"rps": float(re.search(r"Requests per second:\s+([\d.]+)", output).group(1))}  # type: ignore[union-attr]
    for percent in (50, 99):
        figures[f"p{percent}"] = float(re.search(rf"^\s+{percent}%\s+(\d+)", output, re.M).group(1))  # type: ignore[union-attr]
    # ab counts a body whose length differs from the first one's as "failed"; JSON with a time in it does.
    broken = re.search(r"\(Connect: (\d+), Receive: (\d+), Length: \d+, Exceptions: (\d+)\)", output)
    non_2xx = re.search(r"Non-2xx responses:\s+(\d+)", output)
    figures["failed"] = float(sum(int(n) for n in broken.groups()) if broken else 0) + float(
        non_2xx.group(1) if non_2xx else 0
    )
    return figures


def measure(name: str, url: str, args: argparse.Namespace, headers: list[str], meter: CpuMeter, *, bar: int) -> None:
    ab(url, requests=2000, concurrency=args.concurrency, headers=headers)  # warm-up
    print(f"{name}: {args.requests} requests x {args.runs} runs, {args.concurrency} concurrent, keep-alive")
    runs = []
    for n in range(args.runs):
        meter.start()
        figures = ab(url, requests=args.requests, concurrency=args.concurrency, headers=headers)
        cpu = meter.stop()
        runs.append(figures)
        print(
            f"  run {n + 1}: {figures['rps']:.0f} requests/s, p50 {figures['p50']:.0f} ms, "
            f"p99 {figures['p99']:.0f} ms, failed {figures['failed']:.0f}"
        )
        if cpu:
            shares = ", ".join(f"{group} {1000 * used / args.requests:.2f}" for group, used in cpu.items())
            print(f"    CPU ms per request: {shares}; total {1000 * sum(cpu.values()) / args.requests:.2f}")
    rates = [r["rps"] for r in runs]
    print(
        f"  median: {statistics.median(rates):.0f} requests/s (runs {min(rates):.0f} to {max(rates):.0f}), "
        f"p99 {statistics.median(r['p99'] for r in runs):.0f} ms (bar: {bar:,} requests/s, p99 under 50 ms)"
    )


def start(name: str, command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = ROOT / "var" / f"bench-{name}.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(["bash", "-c", command], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=["both", "healthz", "status"], default="both")
    args = parser.parse_args()
    if not shutil.which("ab"):
        print("ab (ApacheBench) is missing: apt-get install apache2-utils", file=sys.stderr)
        return 2

    port = free_port()
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    os.environ.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "benchmark-only-secret-key-not-used-for-anything-real-0123"),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SITE_URL": f"http://127.0.0.1:{port}",
            "SECURE_SSL_REDIRECT": "0",
            "DJANGO_SETTINGS_MODULE": "musicdrops.settings",
        }
    )
    ensure_database(os.environ["DATABASE_URL"])
    database = os.environ["DATABASE_URL"].rsplit("/", 1)[1]
    path, session = prepare()

    env = {
        **os.environ,
        "PORT": str(port),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    # Access logs off: a line per request on a shared terminal would measure the terminal.
    web = start("web", procfile_command("web") + " --access-logfile /dev/null", env)
    beat = start("beat", procfile_command("beat"), env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1):  # noqa: S310 (our own loopback server)
                    break  # 200: web is up and sees the beat
            except OSError as error:
                if time.monotonic() > deadline:
                    raise SystemExit(f"/healthz did not answer 200: {error}") from error
                time.sleep(0.2)
        meter = CpuMeter(
            {
                "web": session_of(web.pid),
                "postgres": cmdline_has(b"postgres: ", f" {database} ".encode()),
                "redis (shared)": cmdline_has(b"redis-server"),
                "ab": cmdline_has(b"ab -q"),
                "beat": session_of(beat.pid),
            }
        )
        if args.only in ("both", "healthz"):
            measure("/healthz", base + "/healthz", args, [], meter, bar=1000)
        cookie = f"Cookie: {os.environ.get('SESSION_COOKIE_NAME', 'sessionid')}={session}"
        if args.only in ("both", "status"):
            measure("task status", base + path, args, [cookie, "Accept: application/json"], meter, bar=500)
    finally:
        for process in (web, beat):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
