"""`make run` as a newcomer meets it: every process up, sign up, verify from the console email, log in, Ctrl-C."""

import re
import signal
import sys

import pytest
import redis
import requests

from musicdrops.accounts.models import User
from scripts.localredis import free_port
from tests.integration.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-newcomer-passphrase-9"


def post_form(session: requests.Session, url: str, data: dict[str, str]) -> requests.Response:
    session.get(url, timeout=10)
    return session.post(url, {**data, "csrfmiddlewaretoken": session.cookies["csrftoken"]}, timeout=10)


def test_make_run_brings_up_every_process_and_a_newcomer_can_sign_up_verify_and_log_in(start_process):
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    stack = start_process(
        "devstack", command=f"{sys.executable} scripts/devstack.py", PORT=str(port), SITE_URL=site, REDIS_URL=""
    )
    stack.wait_for("MusicDrops is running at", timeout=120)
    output = stack.output()
    for name in ("web", "beat", "worker-regular", "worker-drops", "worker-important"):
        assert re.search(rf" {name} *\| started \(pid", output), name
    private_redis = re.search(r"started a private Redis at (\S+)", output)
    assert private_redis, "with no REDIS_URL, make run starts its own Redis"

    # Healthy once the beat has published its first heartbeat.
    wait_until(lambda: requests.get(f"{site}/healthz", timeout=5).status_code == 200, 30, "/healthz 200", stack)

    browser = requests.Session()
    response = post_form(browser, f"{site}/accounts/signup/", {"email": "newcomer@example.com", "password": PASSWORD})
    assert response.url == f"{site}/accounts/signup/sent/"  # the same answer whether or not the address is taken
    assert "Check your inbox" in response.text

    # The verification email is printed by the important worker, in the same terminal.
    link_pattern = re.compile(re.escape(site) + r"/accounts/verify/[^/\s]+/")
    wait_until(lambda: link_pattern.search(stack.output()), 30, "the verification email in the output", stack)
    link = link_pattern.search(stack.output()).group(0)  # type: ignore[union-attr]
    assert "is confirmed" in browser.get(link, timeout=10).text
    assert User.objects.get(email="newcomer@example.com").email_verified

    again = post_form(browser, f"{site}/accounts/login/", {"username": "newcomer@example.com", "password": PASSWORD})
    assert again.url == f"{site}/dashboard/"
    assert "Please confirm" not in again.text

    demo = requests.Session()
    logged_in = post_form(
        demo, f"{site}/accounts/login/", {"username": "demo@musicdrops.local", "password": "listen-to-more-music"}
    )
    assert logged_in.url == f"{site}/dashboard/"

    # A day's send of the demo data, so that worker-drops' pool children have opened what they use too.
    sender = start_process("release", command="python manage.py send_music_drops", REDIS_URL=private_redis.group(1))
    assert sender.popen.wait(60) == 0, sender.output()
    wait_until(lambda: stack.output().count("ChunkOutcome(") >= 2, 60, "chunks sent by worker-drops", stack)

    # Everything running at once stays inside premium-1 (80 connections; app.json names premium-2 for the worst case).
    client = redis.Redis.from_url(private_redis.group(1))
    connections = len(client.client_list()) - 1  # not counting this one
    print(f"redis connections with web, beat and the three workers running: {connections}")
    assert connections <= 80

    # Ctrl-C stops everything, the private Redis included.
    seconds = stack.stop(signal.SIGINT, timeout=30)
    print(f"make run stopped {seconds:.1f} s after Ctrl-C")
    assert stack.popen.returncode == 0, stack.output()[-3000:]
    assert seconds < 20
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{site}/healthz", timeout=2)
    with pytest.raises(redis.ConnectionError):
        client.ping()
