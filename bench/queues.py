"""Queues under load, with the Procfile's real workers on Redis.

1. Important work is not stuck behind bulk work: with 10,000 tasks queued on
   "regular", tasks sent to "important" finish within 2 s (p95).
2. Redis memory: after 100,000 tasks the server's memory has grown by less
   than 5 MB, and there is no result key at all (there is no result backend).
   The bench starts a Redis of its own (unless REDIS_URL is set), so nothing
   else moves the figure.

    python -m bench.queues --backlog 10000 --tasks 100000
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.daily_send import DEFAULT_DATABASE_URL, ensure_database, procfile_command
from bench.redisdb import flush_own_database

ROOT = Path(__file__).resolve().parent.parent


def start_worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = procfile_command(name) + " --include bench.queue_tasks"
    with log.open("wb") as out:
        process = subprocess.Popen(["bash", "-c", command], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{name} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=10_000, help="regular tasks queued before the probes")
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks run in all, for the memory check")
    parser.add_argument("--probes", type=int, default=40, help="important tasks sent while the backlog drains")
    args = parser.parse_args()

    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    private_redis = None
    if not os.environ.get("REDIS_URL"):
        from scripts import localredis

        private_redis, os.environ["REDIS_URL"] = localredis.start(directory=ROOT / "var" / "bench-redis")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-not-used-for-anything-real-0123456789")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
    os.environ["DJANGO_SETTINGS_MODULE"] = "musicdrops.settings"
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    import redis
    from django.conf import settings

    from bench.queue_tasks import LATENCIES, important_work_task, regular_work_task
    from musicdrops.celery import app

    flush_own_database(settings.REDIS_URL)
    client = redis.Redis.from_url(settings.REDIS_URL)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    logs = ROOT / "var"
    logs.mkdir(exist_ok=True)
    workers = [start_worker("worker-important", env, logs / "bench-queues-important.log")]
    try:
        time.sleep(1)
        client.memory_purge()
        memory_before = int(client.info("memory")["used_memory"])
        # The backlog is queued before the regular worker starts, so it is all there when the probes go.
        sent = 0
        with app.producer_or_acquire() as producer:
            for _ in range(args.backlog):
                regular_work_task.apply_async(queue="regular", producer=producer)
            sent += args.backlog
        workers.append(start_worker("worker-regular", env, logs / "bench-queues-regular.log"))
        queued = client.llen("regular")
        print(f"queues: {queued} tasks waiting on regular; sending {args.probes} important tasks, one per 0.25 s")
        for _ in range(args.probes):
            important_work_task.apply_async(args=(time.time(),), queue="important")
            time.sleep(0.25)
        sent += args.probes
        deadline = time.monotonic() + 60
        while client.llen(LATENCIES) < args.probes and time.monotonic() < deadline:
            time.sleep(0.1)
        latencies = [float(x) for x in client.lrange(LATENCIES, 0, -1)]
        still_queued = client.llen("regular")
        print(
            f"  important: {len(latencies)} of {args.probes} done; p50 {statistics.median(latencies):.3f} s, "
            f"p95 {percentile(latencies, 95):.3f} s, max {max(latencies):.3f} s (bar: p95 under 2 s); "
            f"regular still queued when the last finished: {still_queued}"
        )

        started = time.monotonic()
        with app.producer_or_acquire() as producer:
            while sent < args.tasks:
                batch = min(10_000, args.tasks - sent)
                for _ in range(batch):
                    regular_work_task.apply_async(queue="regular", producer=producer)
                sent += batch
                while client.llen("regular") > 20_000:
                    time.sleep(0.5)
        while client.llen("regular") or client.hlen("unacked"):
            time.sleep(0.5)
        duration = time.monotonic() - started
        time.sleep(1)
        client.memory_purge()
        memory_after = int(client.info("memory")["used_memory"])
        results = sum(1 for _ in client.scan_iter("celery-task-meta-*", count=1000))
        print(
            f"  {sent} tasks in all ({args.tasks - args.backlog - args.probes} more in {duration:.0f} s); "
            f"Redis memory {memory_before / 1e6:.2f} MB -> {memory_after / 1e6:.2f} MB "
            f"({(memory_after - memory_before) / 1e6:+.2f} MB; bar: under 5 MB); "
            f"{results} result keys (bar: 0)"
        )
        print(f"  keys in Redis now: {client.dbsize()}")
    finally:
        for worker in workers:
            stop(worker)
        flush_own_database(settings.REDIS_URL)  # never another's: on database 0 a FLUSHDB freed every test run's claim
        if private_redis is not None:
            private_redis.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
