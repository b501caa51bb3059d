"""`make bench-scale`: one slot of a million fans, a big suppression list and a ledger with history (figures printed).

seed_demo --users N (its time and peak memory), 250,000 suppressed addresses (none of them a fan's), 30 days of
sent history for 100,000 fans, then the whole slot through the Procfile's worker-drops with one and with two
processes, against a local stand-in for Postmark's batch API (an SMTP sink would have to keep 8 KB a message).
Prints: the fan-out's time, every process's peak memory (VmHWM), tasks past their soft limit, emails/s, a
chunk's statements and time per email at the start and at the end of the slot, /metrics and the admin's
delivery list latency, Redis's peak memory and connections, duplicates and missing, and how many of the slot's
updates of deliveries were HOT. First, the catalogue's per-tick queries at a million followed artists
(bench/catalog_queries.py). Each part runs on its own too, in minutes:

    python -m bench.scale --fans 1000000 --workers 1 2
    python -m bench.scale --only catalog --artists 1000000
    python -m bench.scale --only send --fans 50000 --history-fans 10000 --workers 1
"""

import argparse
import datetime as dt
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.daily_send import ROOT, Worker, due_in, ensure_database, vacuum
from bench.postmark_server import serve_postmark

DEFAULT_DATABASE_URL = "postgres://postgres:postgres@127.0.0.1:5432/musicdrops_scale"
CHUNK_LINE = re.compile(rb"ChunkOutcome\(claimed=(\d+), sent=(\d+).*?seconds=([0-9.]+)\)")


def peak_mb(pids: list[int]) -> dict[int, float]:
    """Each process's peak resident memory (VmHWM), in MB."""
    found = {}
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if match := re.search(r"VmHWM:\s+(\d+) kB", status):
            found[pid] = int(match.group(1)) / 1024
    return found


def session_pids(leader: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == leader:  # the session id
                pids.append(int(entry.name))
    return pids


class RedisWatch(threading.Thread):
    """Redis's connected clients, sampled twice a second; its peak memory from INFO at the end."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        import redis

        self.client = redis.Redis.from_url(url)
        self.peak_clients = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            self.peak_clients = max(self.peak_clients, int(self.client.info("clients")["connected_clients"]))

    def finish(self) -> dict[str, Any]:
        self.stopping.set()
        self.join()
        memory = self.client.info("memory")
        return {"peak_clients": self.peak_clients, "peak_memory_mb": memory["used_memory_peak"] / 2**20}


def seed(fans: int, suppressed: int, history_fans: int, history_days: int, slot: dt.datetime) -> dict[str, float]:
    import resource

    from django.db import connection

    began = time.monotonic()
    subprocess.run(
        [sys.executable, "manage.py", "seed_demo", "--users", str(fans), "--demo-password", "bench-only-pass"],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    seeded = {
        "seed_s": time.monotonic() - began,
        "seed_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_suppression (email, reason, detail, provider, created_at) "
            "SELECT 'gone' || g || '@elsewhere.example', 'bounced', '', '', now() FROM generate_series(1, %s) g "
            "ON CONFLICT DO NOTHING",
            [suppressed],
        )
        # Sent emails of earlier days, as a ledger keeps them: its size must not change a slot's cost.
        cursor.execute("SELECT count(*) FROM drops_delivery WHERE slot < %s", [slot - dt.timedelta(days=1)])
        if cursor.fetchone()[0] == 0:
            cursor.execute(
                "INSERT INTO drops_delivery (user_id, slot, day, period, status, token, lease_until, queued_at, "
                "sent_at, message_id, error) "
                "SELECT u.id, %s - d * interval '1 day', (%s - d * interval '1 day')::date, "
                "to_char(%s - d * interval '1 day', 'YYYY-MM-DD'), 'sent', '', now(), now(), now(), '', '' "
                "FROM (SELECT id FROM accounts_user ORDER BY id LIMIT %s) u CROSS JOIN generate_series(1, %s) d",
                [slot, slot, slot, history_fans, history_days],
            )
    return seeded


def reset_slot(slot: dt.datetime) -> None:
    """The slot unsent again. In SQL: the ORM's delete() would first load a million rows and their releases."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM drops_deliveredrelease")
        cursor.execute("DELETE FROM drops_delivery WHERE slot = %s", [slot])
        cursor.execute("DELETE FROM drops_dropsend WHERE slot = %s", [slot])
        cursor.execute("DELETE FROM scheduler_scheduledrun")
    vacuum()


def chunk_cost(slot: dt.datetime, users: list[int]) -> dict[str, float]:
    """Send one chunk in this process and count its statements: the cost of a chunk at this point of the slot."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from musicdrops.drops import chunk
    from musicdrops.drops.models import Delivery

    Delivery.objects.filter(slot=slot, user_id__in=users).update(status="due", token="", sent_at=None)
    with CaptureQueriesContext(connection) as queries:
        began = time.perf_counter()
        outcome = chunk.drop_chunk_send(slot=slot, first=users[0], last=users[-1], token=f"cost-{time.time_ns()}")
        seconds = time.perf_counter() - began
    return {"statements": len(queries) / max(outcome.sent, 1), "ms_per_email": 1000 * seconds / max(outcome.sent, 1)}


def delivery_updates() -> dict[str, int]:
    """drops_delivery's updates so far, and how many were HOT (no index touched), once every other connection
    to the database has closed: a backend's statistics are all counted when it exits."""
    from django.db import connection

    with connection.cursor() as cursor:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.2)
        cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'drops_delivery'")
        updated, hot = cursor.fetchone()
    return {"updated": updated, "hot": hot}


def latency_ms(client: Any, path: str, **headers: str) -> float:
    times = []
    for _ in range(5):
        began = time.perf_counter()
        response = client.get(path, secure=True, **headers)
        times.append(1000 * (time.perf_counter() - began))
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(times)


def one_run(processes: int, slot: dt.datetime, expected: int, env: dict[str, str], postmark: Any) -> dict[str, Any]:
    from django.core.management import call_command

    from musicdrops.drops.fanout import slot_label
    from musicdrops.drops.models import DropSend

    reset_slot(slot)
    before = delivery_updates()
    log_dir = ROOT / "var" / "bench-scale"
    log_dir.mkdir(parents=True, exist_ok=True)
    logs = [log_dir / f"worker-{processes}-{n}.log" for n in range(processes)]
    workers = [Worker(env, log, "worker-drops") for log in logs]
    watch = RedisWatch(env["REDIS_URL"])
    watch.start()
    postmark.reset()
    began = time.time()
    call_command("send_music_drops", slot=slot_label(slot), stdout=open(os.devnull, "w"))  # noqa: SIM115
    postmark.wait_for(expected, timeout=6 * 3600)
    seconds = time.time() - began
    time.sleep(2)  # anything sent twice would arrive now
    stats = postmark.stats()
    peaks = {pid: mb for w in workers for pid, mb in peak_mb(session_pids(w.process.pid)).items()}
    for w in workers:
        w.stop()
    after = delivery_updates()
    send = DropSend.objects.get(slot=slot)
    text = b"".join(log.read_bytes() for log in logs)
    chunks = [(int(s), float(t)) for _, s, t in CHUNK_LINE.findall(text) if int(s)]
    tenth = max(1, len(chunks) // 10)
    per_email = [1000 * t / s for s, t in chunks]
    return {
        "processes": processes,
        "seconds": seconds,
        "rate": stats["messages"] / seconds,
        "duplicates": len(stats["duplicates"]),
        "missing": expected - stats["unique_recipients"],
        "fan_out_s": (send.fanned_out_at - send.started_at).total_seconds() if send.fanned_out_at else None,
        "peak_mb": max(peaks.values(), default=0),
        "soft_limit_hits": text.count(b"SoftTimeLimitExceeded"),
        "chunk_ms_per_email_first_tenth": statistics.median(per_email[:tenth]) if chunks else None,
        "chunk_ms_per_email_last_tenth": statistics.median(per_email[-tenth:]) if chunks else None,
        **{f"redis_{key}": value for key, value in watch.finish().items()},
        "updated": after["updated"] - before["updated"],
        "hot": after["hot"] - before["hot"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fans", type=int, default=1_000_000)
    parser.add_argument("--suppressed", type=int, default=250_000)
    parser.add_argument("--history-fans", type=int, default=100_000)
    parser.add_argument("--history-days", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker-drops processes per run")
    parser.add_argument(
        "--only", choices=["catalog", "send"], help="run one part: the catalogue's queries, or the send"
    )
    parser.add_argument("--artists", type=int, default=1_000_000, help="followed artists for the catalogue's queries")
    parser.add_argument("--runs", type=int, default=7, help="calls of each catalogue query timed")
    args = parser.parse_args()

    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-not-used-for-anything-real-0123456789")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "musicdrops.settings")
    os.environ["METRICS_TOKEN"] = "bench-scale"
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    ensure_database(os.environ["DATABASE_URL"])
    sys.path.insert(0, str(ROOT))
    from scripts import localredis

    redis_server, os.environ["REDIS_URL"] = localredis.start(directory=ROOT / "var" / "bench-scale-redis")
    try:
        return run(args)
    finally:
        redis_server.kill()


def run(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from musicdrops.accounts.models import User

    # The admin's pages in this process: its static files as they are, with no collectstatic manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    call_command("migrate", verbosity=0)
    if args.only != "send":
        from bench import catalog_queries

        served = catalog_queries.run(artists=args.artists, runs=args.runs)
        if args.only == "catalog":
            return 0 if served else 1
    slot = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(12), tzinfo=dt.UTC)
    figures: dict[str, Any] = seed(args.fans, args.suppressed, args.history_fans, args.history_days, slot)
    due_in(slot)
    vacuum()
    from django.db.models import Exists, OuterRef

    from musicdrops.catalog.models import Follow

    listening = User.objects.receiving_drops().filter(Exists(Follow.objects.filter(user=OuterRef("pk"))))
    expected = listening.count()
    print(f"bench-scale: {expected:,} fans due in one slot, {args.suppressed:,} suppressed addresses, "
          f"{args.history_days} days of history for {args.history_fans:,} fans")  # fmt: skip
    print(f"  seed_demo --users {args.fans:,}: {figures['seed_s']:.0f} s, peak {figures['seed_peak_mb']:.0f} MB")
    with serve_postmark() as postmark:
        postmark.keep_messages = False
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "EMAIL_URL": f"postmark://{postmark.token}?api_url={postmark.url}",
            "MUSICBRAINZ_URL": "http://127.0.0.1:9/ws/2",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)
        for processes in args.workers:
            result = one_run(processes, slot, expected, env, postmark)
            print(
                f"  {processes} worker-drops: {result['rate']:,.0f} emails/s ({result['seconds']:.0f} s), fan-out "
                f"{result['fan_out_s']:.0f} s, peak process {result['peak_mb']:.0f} MB, soft limit hit "
                f"{result['soft_limit_hits']} times, chunk ms/email first tenth "
                f"{result['chunk_ms_per_email_first_tenth']:.2f}, last tenth "
                f"{result['chunk_ms_per_email_last_tenth']:.2f}, "
                f"Redis peak {result['redis_peak_memory_mb']:.1f} MB and {result['redis_peak_clients']} connections, "
                f"duplicates {result['duplicates']}, missing {result['missing']}; deliveries updated "
                f"{result['updated']:,} times, {result['hot']:,} HOT ({result['hot'] / max(result['updated'], 1):.0%})"
            )  # fmt: skip
        users = list(listening.order_by("pk").values_list("pk", flat=True)[:500])
        last = list(listening.order_by("-pk").values_list("pk", flat=True)[:500])[::-1]
        start, end = chunk_cost(slot, users), chunk_cost(slot, last)
        print(f"  a chunk of 500, the slot's first and last users: {start['statements']:.2f} and "
              f"{end['statements']:.2f} statements per email, {start['ms_per_email']:.2f} and "
              f"{end['ms_per_email']:.2f} ms per email")  # fmt: skip
    admin = User.objects.create_superuser(
        f"scale-admin-{time.time_ns()}@example.com", "bench-only-pass", receives_drops=False
    )
    client = Client()
    client.force_login(admin)
    metrics = latency_ms(client, "/metrics", HTTP_AUTHORIZATION=f"Bearer {settings.METRICS_TOKEN}")
    deliveries = latency_ms(client, "/admin/drops/delivery/")
    print(f"  /metrics {metrics:.0f} ms, the admin's delivery list {deliveries:.0f} ms (medians of 5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
