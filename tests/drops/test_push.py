"""The push channel through the ledger: one push per fan per period, beside (or instead of) the email, recorded under
the chunk's claim; 429, 5xx and time-outs leave the row due, other 4xx fail it for good. Against a local server."""

import datetime as dt

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from musicdrops.accounts.models import User
from musicdrops.catalog.models import Follow
from musicdrops.drops import chunk
from musicdrops.drops.models import DeliveredRelease, Delivery, PushChannel
from tests.drops.test_send import DAY, SLOT, artist, listener, queue_only, release, send
from tests.integration.push_server import Behaviour, PushServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(settings):
    settings.SAFE_HTTP_ALLOW_HTTP = True
    settings.SAFE_HTTP_ALLOW_LOOPBACK = True  # the local server only; tests/drops/test_safe_http.py keeps it off
    s = PushServer()
    base = s.start()
    yield s, base
    s.stop()


def fan_with_news(email: str, n: int) -> User:
    fan = listener(email)
    band = artist(f"Band {n}", n)
    Follow.objects.create(user=fan, artist=band)
    release(band, f"Record {n}", n=n)
    return fan


def push_to(fan, url: str, *, mode: str = "both", kind: str = "ntfy") -> None:
    PushChannel.objects.create(user=fan, url=url, mode=mode, kind=kind)


def test_email_and_push_each_once(server):
    s, base = server
    fan = fan_with_news("fan@example.com", 1)
    push_to(fan, f"{base}/my-topic")

    assert send().sent == 2
    assert send(token="attempt-2").sent == 0

    assert len(mail.outbox) == 1
    assert s.accepted == {"/my-topic": 1}
    [(_, headers, body)] = s.bodies
    assert headers["Title"] == "New music for June 1, 2026"
    assert "Band 1 - Record 1" in body.decode()
    assert sorted(Delivery.objects.values_list("channel", "status")) == [("email", "sent"), ("push", "sent")]
    assert sorted(DeliveredRelease.objects.values_list("channel", flat=True)) == ["email", "push"]


def test_push_only_sends_no_email(server):
    s, base = server
    fan = fan_with_news("fan@example.com", 1)
    push_to(fan, f"{base}/discord/hook", mode="push", kind="discord")

    assert send().sent == 1
    assert mail.outbox == []
    assert s.accepted == {"/discord/hook": 1}
    assert "Record 1" in s.bodies[0][2].decode()


def test_a_429_leaves_the_push_due_and_the_next_attempt_sends_it(server):
    s, base = server
    s.behaviour = Behaviour(throttle_first=1)
    fan = fan_with_news("fan@example.com", 1)
    push_to(fan, f"{base}/hook", kind="slack")

    first = send()
    assert (first.sent, first.later) == (1, [fan.pk])  # the email went; the push waits
    assert Delivery.objects.get(channel="push").status == "due"
    again = chunk.drop_chunk_send(slot=SLOT, first=fan.pk, last=fan.pk, token="attempt-2")  # the task's retry
    assert (again.sent, again.later) == (1, [])
    assert s.accepted == {"/hook": 1}
    assert Delivery.objects.get(channel="push").status == "sent"


def test_a_5xx_leaves_the_push_due(server):
    s, base = server
    s.behaviour = Behaviour(status=503)
    fan = fan_with_news("fan@example.com", 1)
    push_to(fan, f"{base}/hook")

    assert send().later == [fan.pk]
    assert Delivery.objects.get(channel="push").status == "due"


def test_a_404_fails_the_push_for_good_with_the_reason_and_frees_its_releases(server):
    s, base = server
    s.behaviour = Behaviour(status=404)
    fan = fan_with_news("fan@example.com", 1)
    push_to(fan, f"{base}/gone")

    outcome = send()
    assert (outcome.sent, outcome.failed, outcome.later) == (1, 1, [])
    failed = Delivery.objects.get(channel="push")
    assert (failed.status, failed.error) == ("failed", "HTTP 404: no")
    assert list(DeliveredRelease.objects.values_list("channel", flat=True)) == ["email"]


def test_a_push_to_a_private_address_fails_for_good(server, settings):
    settings.SAFE_HTTP_ALLOW_LOOPBACK = False
    fan = fan_with_news("fan@example.com", 1)
    push_to(fan, "http://127.0.0.1:9/topic", mode="push")

    assert send().failed == 1
    assert "not a public address" in Delivery.objects.get(channel="push").error


def test_without_push_channels_a_chunk_costs_the_same_queries_for_one_fan_or_many():
    def queries_for(n: int) -> int:
        Delivery.objects.all().delete()
        users = queue_only(DAY + dt.timedelta(days=n))
        slot = Delivery.objects.get(user_id=users[0]).slot
        with CaptureQueriesContext(connection) as captured:
            assert chunk.drop_chunk_send(slot=slot, first=min(users), last=max(users), token=f"t{n}").sent == len(users)
        return len(captured)

    fan_with_news("one@example.com", 1)
    one = queries_for(0)
    for n in range(2, 6):
        fan_with_news(f"fan{n}@example.com", n)
    many = queries_for(0)
    # Every email marks its row sent (one UPDATE each), exactly as before push channels: nothing more per email.
    assert many - one == 4


def test_settings_save_a_channel_and_refuse_a_bad_url(client, server):
    s, base = server
    fan = listener("fan@example.com")
    client.force_login(fan)
    assert 'href="/drops/push/"' in client.get(reverse("accounts:settings")).content.decode()
    assert client.get(reverse("drops:push")).status_code == 200

    bad = client.post(reverse("drops:push"), {"mode": "push", "kind": "ntfy", "url": "ftp://ntfy.sh/topic"})
    assert bad.status_code == 400
    assert "That address cannot be used" in bad.content.decode()
    missing = client.post(reverse("drops:push"), {"mode": "both", "kind": "ntfy", "url": ""})
    assert missing.status_code == 400

    client.post(reverse("drops:push"), {"mode": "both", "kind": "ntfy", "url": f"{base}/t"})
    assert PushChannel.objects.get(user=fan).mode == "both"

    page = client.post(reverse("drops:push_test"), follow=True).content.decode()
    assert "Test message sent: the server answered HTTP 200: ok." in page
    assert s.accepted == {"/t": 1}


def test_the_test_button_says_why_a_refused_address_was_not_sent(client, settings):
    settings.SAFE_HTTP_ALLOW_HTTP = True
    fan = listener("fan@example.com")
    client.force_login(fan)
    PushChannel.objects.create(user=fan, url="http://localhost:9/t", mode="both")

    response = client.post(reverse("drops:push_test"), follow=True)
    assert response.status_code == 200
    assert "The test message was not sent: refused: the address resolves to" in response.content.decode()
