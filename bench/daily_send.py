"""`make bench`: the daily send end to end, against a one-task-per-user baseline, in one run.

scheduler command -> Redis -> a real worker (the Procfile's worker-regular)
-> PostgreSQL -> an SMTP server on loopback that counts what it receives.
Prints emails/s for each run, the median, and the ratio to the baseline,
plus duplicates and missing recipients (both must be 0).

    python -m bench.daily_send --users 20000 --runs 3
"""

import argparse
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.cpu import CpuMeter, cmdline_has, parent_of, pid_is, session_of
from bench.redisdb import flush_own_database

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres:postgres@127.0.0.1:5432/musicdrops_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"


def ensure_database(url: str) -> None:
    """Create the benchmark's own PostgreSQL database if it is missing."""
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def procfile_command(name: str) -> str:
    from musicdrops.ops.procfile import read_procfile

    try:
        return read_procfile()[name]
    except KeyError:
        raise SystemExit(f"no {name} in the Procfile") from None


class Worker:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        command = procfile_command("worker-regular") + " --include bench.baseline_tasks"
        self.log = log
        self._file = log.open("wb")
        self.process = subprocess.Popen(
            ["bash", "-c", command], cwd=ROOT, env=env, stdout=self._file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        self._file.close()


def reset_day(day: dt.date) -> None:
    """Make ``day`` unsent again, keeping its ledger rows as an earlier day's, as production's ledger keeps them.

    An emptied ledger would be planned as an empty table (autovacuum is often
    off on a benchmark machine): its foreign-key checks then scan the table
    instead of its key, and a fan-out's commit took 0.6 s instead of 10 ms.
    """
    from django.db.models import Min

    from musicdrops.drops.models import DeliveredRelease, Delivery, DropSend
    from musicdrops.scheduler.models import DuplicateDispatch, ScheduledRun

    earliest = Delivery.objects.aggregate(day=Min("day"))["day"] or day
    DeliveredRelease.objects.all().delete()  # the same releases go out again
    Delivery.objects.filter(day=day).update(day=min(earliest, day) - dt.timedelta(days=1))
    DropSend.objects.all().delete()
    ScheduledRun.objects.all().delete()
    DuplicateDispatch.objects.all().delete()
    vacuum()


def vacuum() -> None:
    """Clear out the rows the benchmark itself deleted, and refresh the planner's statistics.

    Autovacuum does this on any ordinary PostgreSQL (Heroku's included), but
    it may be off on a benchmark machine: then every run would scan the dead
    rows of all the runs before it (we saw one ledger query go from 0.2 ms to
    34 ms), and the figures would measure this database's history instead of
    the send. Outside the timed runs.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def timed_run(sink: Any, expected: int, start: Any, timeout: float, meter: CpuMeter) -> dict[str, Any]:
    sink.reset()
    meter.start()
    began = time.time()
    start()
    sink.wait_for(expected, timeout=timeout)
    cpu = meter.stop()
    time.sleep(1)  # anything sent twice would arrive now
    stats: dict[str, Any] = sink.stats()
    seconds = stats["last_at"] - began
    return {
        "cpu_ms_per_email": {group: 1000 * used / max(stats["messages"], 1) for group, used in cpu.items()},
        "seconds": seconds,
        "rate": stats["messages"] / seconds,
        "messages": stats["messages"],
        "unique": stats["unique_recipients"],
        "duplicates": len(stats["duplicates"]),
        "missing": expected - stats["unique_recipients"],
    }


def open_sink() -> tuple[Any, str]:
    """Postfix's smtp-sink: a C server that is not the bottleneck (about 3,000 messages/s here), or a clear exit."""
    from bench.postfix_sink import PostfixSink, find_smtp_sink

    program = find_smtp_sink()
    if program is None:
        raise SystemExit(
            "smtp-sink not found. The benchmark's SMTP server is Postfix's smtp-sink: install Debian's postfix "
            "package (apt-get install postfix; choose 'No configuration'), then run make bench again."
        )
    return PostfixSink(program=program), f"Postfix smtp-sink ({program})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3, help="runs of the real design (the median is reported)")
    parser.add_argument(
        "--baseline-users", type=int, default=2000, help="users for the baseline, which is slow (default 2000)"
    )
    args = parser.parse_args()

    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    # Production settings: cached templates, no query log (DEBUG would slow every email down).
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-not-used-for-anything-real-0123456789")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "musicdrops.settings")
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        raise SystemExit("the benchmark runs against PostgreSQL: set DATABASE_URL=postgres://...")
    ensure_database(os.environ["DATABASE_URL"])

    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from musicdrops.accounts.models import User
    from musicdrops.celery import app
    from musicdrops.ops.demo import demo_email

    call_command("migrate", verbosity=0)
    flush_own_database(settings.REDIS_URL)  # the benchmark's own database number
    day = dt.date.today()

    began = time.monotonic()
    call_command("seed_demo", users=args.users, demo_email="demo@musicdrops.local", demo_password="bench-only-pass")
    seed_seconds = time.monotonic() - began
    began = time.monotonic()
    call_command("seed_demo", users=args.users, demo_email="demo@musicdrops.local", demo_password="bench-only-pass")
    reseed_seconds = time.monotonic() - began
    # Only these N seeded listeners (and the demo login) get drops in this database,
    # even when an earlier run seeded more of them.
    listeners = [demo_email(n) for n in range(1, args.users + 1)]
    User.objects.exclude(email__in=[*listeners, "demo@musicdrops.local"]).update(receives_drops=False)
    User.objects.filter(email__in=[*listeners, "demo@musicdrops.local"]).update(receives_drops=True)
    expected = args.users + 1

    log_dir = ROOT / "var" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    sink, sink_name = open_sink()
    with sink:
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "EMAIL_URL": sink.url,
            "MUSICBRAINZ_URL": "http://127.0.0.1:9/ws/2",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)
        worker = Worker(env, log_dir / "worker.log")
        database = os.environ["DATABASE_URL"].rsplit("/", 1)[1]
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            postmaster = parent_of(cursor.fetchone()[0])
        meter = CpuMeter(
            {
                "worker": session_of(worker.process.pid),
                "postgres": cmdline_has(b"postgres: ", f" {database} ".encode()),
                "sink": pid_is(lambda: sink.pid),
                "redis (shared)": cmdline_has(b"redis-server"),
                "bench": pid_is(os.getpid),
            },
            # PostgreSQL's backends for chunk tasks live about a second: found as they start.
            watch_children_of=[postmaster] if postmaster else [],
        )
        try:
            design = []
            for _ in range(args.runs):
                reset_day(day)
                design.append(
                    timed_run(
                        sink,
                        expected,
                        lambda: call_command("send_music_drops", date=day.isoformat(), stdout=open(os.devnull, "w")),  # noqa: SIM115
                        timeout=600,
                        meter=meter,
                    )
                )
            reset_day(day)
            baseline_users = list(
                User.objects.filter(receives_drops=True)
                .order_by("pk")
                .values_list("pk", flat=True)[: min(args.baseline_users, expected)]
            )

            def enqueue_one_per_user() -> None:
                with app.producer_or_acquire() as producer:
                    for user_id in baseline_users:
                        app.send_task(
                            "bench.send_one_drop", (day.isoformat(), user_id), queue="regular", producer=producer
                        )

            baseline = timed_run(sink, len(baseline_users), enqueue_one_per_user, timeout=1800, meter=meter)
        finally:
            worker.stop()

    median = statistics.median(run["rate"] for run in design)
    print()
    print(f"daily send benchmark — {os.cpu_count()} cores, PostgreSQL, Redis, 1 worker-regular (concurrency 2)")
    print(f"  SMTP server: {sink_name}")
    print(f"  seed_demo --users {args.users}: {seed_seconds:.1f} s (again, idempotent: {reseed_seconds:.1f} s)")
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        print(f"  PostgreSQL autovacuum: {cursor.fetchone()[0]}; VACUUM ANALYZE before each run (outside the timing)")
    for number, run in enumerate(design, 1):
        print(
            f"  design run {number}: {run['messages']} emails in {run['seconds']:.2f} s = {run['rate']:.0f} emails/s"
            f"  (duplicates {run['duplicates']}, missing {run['missing']})"
        )
    print(
        f"  baseline (one task per user): {baseline['messages']} emails in {baseline['seconds']:.2f} s = "
        f"{baseline['rate']:.0f} emails/s  (duplicates {baseline['duplicates']}, missing {baseline['missing']})"
    )
    print(f"  median design: {median:.0f} emails/s; {median / baseline['rate']:.1f}x the baseline")
    if meter.available:
        print("  CPU ms per email (user + system time of each process group, from /proc):")
        for label, run in [*((f"design run {n}", r) for n, r in enumerate(design, 1)), ("baseline", baseline)]:
            groups = run["cpu_ms_per_email"]
            shares = ", ".join(f"{group} {ms:.2f}" for group, ms in groups.items())
            print(f"    {label}: {shares}; total {sum(groups.values()):.2f}")
        print(
            "    (sampled every 20 ms: a process that lives less than that is missed, so the baseline's\n"
            "    postgres figure, one short database connection per task, is a lower bound)"
        )
    ok = all(run["duplicates"] == 0 and run["missing"] == 0 for run in [*design, baseline])
    print("  exactly once: " + ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
