"""Bounces, complaints and unsubscribes from the provider's webhook stop email to an address, once and for good."""

import base64
import importlib
import json
from typing import Any

import pytest
from django.urls import clear_url_caches, reverse
from django.utils import timezone

from musicdrops.accounts import services
from musicdrops.accounts.models import MailEvent, Suppression, User
from musicdrops.accounts.tokens import make_verification_token

pytestmark = pytest.mark.django_db

AUTH = "Basic " + base64.b64encode(b"hook:secret").decode()


@pytest.fixture
def webhook(settings):
    """Postmark's tracking webhook, served as it is with EMAIL_URL=postmark://... and ANYMAIL_WEBHOOK_SECRET."""
    import musicdrops.urls

    settings.EMAIL_PROVIDER = "postmark"
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:secret"}
    importlib.reload(musicdrops.urls)
    clear_url_caches()
    yield reverse("anymail:postmark_tracking_webhook")
    settings.EMAIL_PROVIDER, settings.ANYMAIL = "", {}
    importlib.reload(musicdrops.urls)
    clear_url_caches()


def post(client: Any, url: str, body: Any, auth: str = AUTH) -> Any:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(url, data, content_type="application/json", HTTP_AUTHORIZATION=auth)


def bounce(email: str, kind: str = "HardBounce", event_id: int = 1) -> dict[str, Any]:
    return {
        "RecordType": "Bounce", "Type": kind, "ID": event_id, "Email": email, "BouncedAt": "2026-12-02T07:00:00Z",
        "Description": "The server was unable to deliver your message", "Details": "550 5.1.1 no such user",
    }  # fmt: skip


@pytest.fixture
def fan():
    return User.objects.create_user("fan@example.com", "correct-horse-battery-staple", email_verified_at=timezone.now())


def test_a_hard_bounce_suppresses_the_address_at_once_and_a_replay_changes_nothing(client, webhook, fan):
    assert post(client, webhook, bounce("Fan@Example.com")).status_code == 200

    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason, suppression.provider) == ("fan@example.com", "bounced", "Postmark")
    assert not User.objects.receiving_drops().filter(pk=fan.pk).exists()
    assert post(client, webhook, bounce("fan@example.com")).status_code == 200  # the same event again
    assert (Suppression.objects.count(), MailEvent.objects.count()) == (1, 1)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"RecordType": "SpamComplaint", "Type": "SpamComplaint", "ID": 7, "Email": "fan@example.com"}, "complained"),
        ({"RecordType": "SubscriptionChange", "Recipient": "fan@example.com", "SuppressSending": True,
          "SuppressionReason": "ManualSuppression", "ChangedAt": "2026-12-02T07:00:00Z"}, "unsubscribed"),
    ],
)  # fmt: skip
def test_a_complaint_or_an_unsubscribe_at_the_provider_suppresses(client, webhook, fan, event, reason):
    assert post(client, webhook, event).status_code == 200
    assert Suppression.objects.get().reason == reason


def test_soft_bounces_suppress_after_three_in_a_row_and_a_delivery_resets_the_count(client, webhook, fan):
    for n in range(2):
        post(client, webhook, bounce("fan@example.com", "SoftBounce", event_id=n))
    post(client, webhook, {"RecordType": "Delivery", "Recipient": "fan@example.com", "MessageID": "m1",
                           "DeliveredAt": "2026-12-02T07:00:00Z"})  # fmt: skip
    for n in range(2, 4):
        post(client, webhook, bounce("fan@example.com", "SoftBounce", event_id=n))
    assert not Suppression.objects.exists()

    post(client, webhook, bounce("fan@example.com", "SoftBounce", event_id=4))

    assert Suppression.objects.get().reason == "soft-bounces"


@pytest.mark.parametrize(
    ("body", "auth", "status"),
    [
        (bounce("fan@example.com"), "Basic " + base64.b64encode(b"hook:wrong").decode(), 400),
        (bounce("fan@example.com"), "", 400),
        ("this is not json", AUTH, 400),
        (b"\xff\xfe garbage", AUTH, 400),
        ({"FromFull": {"Email": "x@example.com"}}, AUTH, 400),  # an inbound event at the tracking URL
        ({"RecordType": "Open", "Recipient": "fan@example.com"}, AUTH, 200),  # not one we act on
        ({"RecordType": "Something new", "Email": "fan@example.com"}, AUTH, 200),
        ([], AUTH, 400),
    ],
)
def test_bad_signatures_garbage_and_unknown_events_are_4xx_or_2xx_never_a_500(client, webhook, fan, body, auth, status):
    response = post(client, webhook, body, auth=auth)

    assert response.status_code == status
    assert not Suppression.objects.exists()


def test_no_webhook_is_served_without_its_secret(client):
    assert client.post("/anymail/postmark/tracking/", "{}", content_type="application/json").status_code == 404


def test_confirming_the_address_again_lifts_it_and_the_user_sees_why_meanwhile(client, webhook, fan):
    post(client, webhook, bounce("fan@example.com"))
    client.force_login(fan)

    page = client.get(reverse("accounts:settings")).content.decode()
    assert "We stopped emailing fan@example.com" in page
    assert "550 5.1.1 no such user" in page
    assert 'data-reason="suppressed"' in client.get(reverse("drops:today")).content.decode()
    assert services.user_request_verification(user=fan)  # a confirmation link, though the address was confirmed

    assert services.user_verify_email(token=make_verification_token(fan)) is not None

    assert not Suppression.objects.exists()
    assert User.objects.receiving_drops().filter(pk=fan.pk).exists()
