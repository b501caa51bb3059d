"""rediss:// with a self-signed certificate (Heroku Key-Value Store) works for all three Redis clients."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from musicdrops.scheduler import heartbeat
from scripts.localredis import free_port
from tests.integration.processes import ROOT, child_env, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _tls_redis_available() -> bool:
    return shutil.which("redis-server") is not None and shutil.which("openssl") is not None


@pytest.fixture
def tls_redis_url(run_dir: Path) -> Iterator[str]:
    """A redis-server that speaks only TLS, with a freshly made self-signed certificate."""
    if not _tls_redis_available():
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            "needs redis-server (built with TLS) and openssl, e.g. Debian's redis-server package"
        )
    tls = run_dir / "tls"
    tls.mkdir(exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=redis.example",
         "-keyout", str(tls / "key.pem"), "-out", str(tls / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--tls-cert-file", str(tls / "cert.pem"), "--tls-key-file", str(tls / "key.pem"),
         "--tls-ca-cert-file", str(tls / "cert.pem"), "--tls-auth-clients", "no", "--dir", str(tls)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"rediss://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, ssl_cert_reqs=None, socket_connect_timeout=1)
    try:
        wait_until(lambda: _pings(client), 10, "the TLS redis-server")
        yield url
    finally:
        server.kill()
        server.wait()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_plain_connections_are_refused_by_the_tls_server(tls_redis_url):
    plain = redis.Redis.from_url(tls_redis_url.replace("rediss://", "redis://"), socket_connect_timeout=1)

    with pytest.raises(redis.ConnectionError):
        plain.ping()


def test_broker_cache_and_redbeat_all_work_over_tls(tls_redis_url, start_process):
    worker = start_process("worker-regular", REDIS_URL=tls_redis_url)
    beat = start_process("beat", REDIS_URL=tls_redis_url)
    worker.wait_for("ready.")

    # Broker: a task sent here and run by the worker. Cache: a set and a get.
    script = (
        "import django; django.setup()\n"
        "from django.core.cache import cache\n"
        "from musicdrops.celery import app\n"
        "cache.set('tls-check', 'cached', 30); assert cache.get('tls-check') == 'cached'\n"
        "print('sent', app.send_task('musicdrops.accounts.tasks.clear_expired_sessions_task').id)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env={**child_env(REDIS_URL=tls_redis_url),
        "DJANGO_SETTINGS_MODULE": "musicdrops.settings"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.startswith("sent "), done.stderr[-3000:]
    worker.wait_for(f"[{done.stdout.split()[1]}] succeeded", 30)

    # RedBeat: the beat takes its lock and publishes its heartbeat over TLS.
    client = redis.Redis.from_url(tls_redis_url, ssl_cert_reqs=None, decode_responses=True)
    wait_until(lambda: client.exists("redbeat::lock"), 30, "the beat to take its lock", beat)
    wait_until(lambda: client.hlen(heartbeat.KEY), 30, "a beat heartbeat", beat)
    assert client.hget("redbeat:clear-expired-sessions", "definition")
