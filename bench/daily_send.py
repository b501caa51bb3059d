"""`make bench`: a slot's send end to end, against a one-task-per-user baseline, in one run.

send_music_drops --slot -> Redis -> a real worker (the Procfile's worker-drops)
-> PostgreSQL -> an SMTP server on loopback that counts what it receives.
The listeners live in ten time zones (seed_demo), each with the delivery
hour that this slot serves. Meanwhile 30 imports of one account keep the
Procfile's worker-regular busy against a MusicBrainz that never answers:
the send must not wait for them. Prints emails/s for each run, the median,
and the ratio to the baseline, plus duplicates and missing recipients (both
must be 0).

    python -m bench.daily_send --users 20000 --runs 3
"""

import argparse
import datetime as dt
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.cpu import CpuMeter, cmdline_has, parent_of, pid_is, session_of
from bench.postmark_server import serve_postmark
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
    def __init__(self, env: dict[str, str], log: Path, name: str = "worker-drops") -> None:
        command = procfile_command(name) + " --include bench.baseline_tasks"
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


def reset_slot(slot: dt.datetime) -> None:
    """Make ``slot`` unsent again, keeping its ledger rows as an earlier period's, as production's ledger keeps them.

    An emptied ledger would be planned as an empty table (autovacuum is often
    off on a benchmark machine): its foreign-key checks then scan the table
    instead of its key, and a fan-out's commit took 0.6 s instead of 10 ms.
    """
    from django.db.models import Min

    from musicdrops.drops.models import DeliveredRelease, Delivery, DropSend
    from musicdrops.scheduler.models import DuplicateDispatch, ScheduledRun

    earliest = Delivery.objects.aggregate(day=Min("day"))["day"] or slot.date()
    before = min(earliest, slot.date()) - dt.timedelta(days=2)
    DeliveredRelease.objects.all().delete()  # the same releases go out again
    Delivery.objects.filter(slot=slot).update(day=before, period=before.isoformat(), slot=slot - dt.timedelta(days=30))
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
        "requests": stats.get("requests"),
    }


def redis_queue_length(url: str, queue: str) -> int:
    import redis

    return int(redis.Redis.from_url(url).llen(queue))


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


def due_in(slot: dt.datetime) -> None:
    """Every seeded listener's delivery hour is the one ``slot`` serves in their zone (the slot at or after it)."""
    from musicdrops.accounts.models import User
    from musicdrops.accounts.zones import zone

    for name in set(User.objects.values_list("time_zone", flat=True)):
        User.objects.filter(time_zone=name).update(delivery_hour=slot.astimezone(zone(name)).hour, digest="daily")


class SilentMusicBrainz:
    """Accepts connections and never answers: imports hang in the regular worker until their time-out."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/ws/2"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.socket.accept()[0])
            except OSError:
                return


def queue_imports(count: int) -> int:
    """``count`` pasted-list imports of 500 names from one account, queued on "regular" (past the per-account
    limits, as if they had been started before there were any: the send must not wait for them either way)."""
    from musicdrops.accounts.models import User
    from musicdrops.catalog import tasks
    from musicdrops.catalog.models import ImportJob

    user, _ = User.objects.get_or_create(email="importer@musicdrops.local", defaults={"receives_drops": False})
    ImportJob.objects.filter(user=user).delete()
    names = "\n".join(f"Somebody {n}" for n in range(500))
    for _ in range(count):
        job = ImportJob.objects.create(user=user, source=ImportJob.Source.NAMES, query=names)
        tasks.import_artists_task.apply_async(kwargs={"job_id": job.pk})
    return count


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
    from musicdrops.drops import fanout
    from musicdrops.drops.fanout import slot_label
    from musicdrops.ops.demo import demo_email

    call_command("migrate", verbosity=0)
    flush_own_database(settings.REDIS_URL)  # the benchmark's own database number
    # Today at 12:00 UTC: every seeded zone's local date is today or tomorrow, so today's demo releases are new.
    slot = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(12), tzinfo=dt.UTC)

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
    due_in(slot)
    expected = args.users + 1
    zones = User.objects.filter(receives_drops=True).values("time_zone").distinct().count()

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
        silent = SilentMusicBrainz()
        regular = Worker({**env, "MUSICBRAINZ_URL": silent.url}, log_dir / "worker-regular.log", "worker-regular")
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
            slot_arg = slot_label(slot)
            imports = queue_imports(30)

            def slot_runs(receiver: Any) -> list[dict[str, Any]]:
                """``args.runs`` sends of the slot, as the beat dispatches it, counted at ``receiver``."""
                runs = []
                for _ in range(args.runs):
                    reset_slot(slot)
                    send = lambda: call_command("send_music_drops", slot=slot_arg, stdout=io.StringIO())  # noqa: E731
                    runs.append(timed_run(receiver, expected, send, timeout=600, meter=meter))
                return runs

            design = slot_runs(sink)
            imports_waiting = redis_queue_length(settings.REDIS_URL, settings.QUEUE_REGULAR)
            reset_slot(slot)
            in_use = User.objects.order_by().values_list("time_zone", flat=True).distinct()
            windows = fanout.due_windows(slot=slot, time_zones=in_use, catch_up_hours=1)
            due = fanout.due_page(windows, after=0, limit=min(args.baseline_users, expected))
            baseline_users = list(due)

            def enqueue_one_per_user() -> None:
                with app.producer_or_acquire() as producer:
                    for user_id in baseline_users:
                        d = due[user_id]
                        app.send_task(
                            "bench.send_one_drop", (slot.isoformat(), user_id, d.day.isoformat(), d.period),
                            queue=settings.QUEUE_DROPS, producer=producer,
                        )  # fmt: skip

            baseline = timed_run(sink, len(baseline_users), enqueue_one_per_user, timeout=1800, meter=meter)
            worker.stop()
            # The same slot through an email provider's API: Postmark's batch endpoint, on a local stand-in.
            with serve_postmark() as postmark:
                provider_url = f"postmark://{postmark.token}?api_url={postmark.url}"
                worker = Worker({**env, "EMAIL_URL": provider_url}, log_dir / "worker-postmark.log")
                provider = slot_runs(postmark)
        finally:
            worker.stop()
            regular.stop()

    median = statistics.median(run["rate"] for run in design)
    print()
    print(f"slot send benchmark — {os.cpu_count()} cores, PostgreSQL, Redis, 1 worker-drops (concurrency 2)")
    print(f"  slot {slot_label(slot)}: {expected} listeners due, in {zones} time zones")
    print(f"  meanwhile: {imports} imports of 500 names from one account queued on 'regular', worker-regular "
          "busy with them against a MusicBrainz that never answers; "
          f"{imports_waiting} still queued after the runs")  # fmt: skip
    print(f"  SMTP server: {sink_name}")
    print(f"  seed_demo --users {args.users}: {seed_seconds:.1f} s (again, idempotent: {reseed_seconds:.1f} s)")
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        print(f"  PostgreSQL autovacuum: {cursor.fetchone()[0]}; VACUUM ANALYZE before each run (outside the timing)")
    for number, run in enumerate(design, 1):
        print(
            f"  design run {number}: {run['messages']} emails in {run['seconds']:.2f} s from the dispatch = "
            f"{run['rate']:.0f} emails/s"
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
    for number, run in enumerate(provider, 1):
        print(
            f"  Postmark API run {number}: {run['messages']} emails in {run['seconds']:.2f} s = {run['rate']:.0f} "
            f"emails/s in {run['requests']} HTTP requests ({run['messages'] / max(run['requests'], 1):.0f} "
            f"messages per request)  (duplicates {run['duplicates']}, missing {run['missing']})"
        )
    print(f"  median through the Postmark API: {statistics.median(r['rate'] for r in provider):.0f} emails/s")
    ok = all(run["duplicates"] == 0 and run["missing"] == 0 for run in [*design, baseline, *provider])
    print("  exactly once: " + ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
