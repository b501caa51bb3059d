"""The send through an email provider's API: Postmark's batch endpoint, against a local server that speaks it."""

import pytest
from django.core.mail import send_mail

from bench.postmark_server import serve_postmark
from musicdrops.catalog.models import Follow
from musicdrops.drops import chunk, recovery
from musicdrops.drops.mailer import BATCH_SIZE, TryLater
from musicdrops.drops.models import Delivery
from musicdrops.env import mailer_config
from tests.drops.test_send import DAY, SLOT, artist, listener, release

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def postmark(settings):
    with serve_postmark() as server:
        settings.MAILERS = {"default": mailer_config(f"postmark://{server.token}?api_url={server.url}")}
        yield server


def fans(count: int) -> list[int]:
    band = artist("Band", 1)
    release(band, "New")
    users = [listener(f"fan{n:03d}@example.com") for n in range(count)]
    Follow.objects.bulk_create(Follow(user=u, artist=band) for u in users)
    queued: list[int] = []
    recovery.drops_start_day(day=DAY, queue=lambda _, chunk: queued.extend(chunk))
    return queued


def test_a_chunk_goes_out_in_a_few_batch_requests_each_message_with_its_own_headers(postmark):
    users = fans(250)

    outcome = chunk.drop_chunk_send(slot=SLOT, first=min(users), last=max(users), token="t")

    assert outcome.sent == 250
    assert postmark.requests == [("/email/batch", BATCH_SIZE), ("/email/batch", BATCH_SIZE), ("/email/batch", 50)]
    stored = dict(Delivery.objects.values_list("user__email", "message_id"))
    unsubscribe = {postmark.header(m, "List-Unsubscribe") for m in postmark.accepted}
    assert len(unsubscribe) == 250  # each reader's own link
    for message in postmark.accepted:
        assert postmark.header(message, "Message-ID") == stored[message["To"]]
        assert postmark.header(message, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
        assert message["Subject"] == "New music for June 1, 2026"
        assert "New" in message["TextBody"]
        assert "New" in message["HtmlBody"]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


def test_a_bad_or_inactive_address_fails_alone_for_good(postmark):
    users = fans(5)
    postmark.bad.add("fan001@example.com")
    postmark.inactive.add("fan003@example.com")

    outcome = chunk.drop_chunk_send(slot=SLOT, first=min(users), last=max(users), token="t")

    assert (outcome.sent, outcome.failed) == (3, 2)
    failed = dict(Delivery.objects.filter(status="failed").values_list("user__email", "error"))
    assert set(failed) == {"fan001@example.com", "fan003@example.com"}
    assert "Postmark 300" in failed["fan001@example.com"]
    assert "Postmark 406" in failed["fan003@example.com"]


def test_a_batch_refused_whole_goes_one_by_one_through_anymail_so_only_the_bad_address_fails(postmark):
    users = fans(5)
    postmark.script("422")
    postmark.bad.add("fan002@example.com")

    outcome = chunk.drop_chunk_send(slot=SLOT, first=min(users), last=max(users), token="t")

    assert (outcome.sent, outcome.failed) == (4, 1)
    assert postmark.requests == [("/email/batch", 5)] + [("/email", 1)] * 5
    assert Delivery.objects.get(status="failed").user.email == "fan002@example.com"


@pytest.mark.parametrize("answer", ["429", "500", "garbage"])
def test_a_busy_or_broken_answer_stops_the_chunk_and_the_retry_sends_nobody_twice(postmark, answer):
    users = fans(150)
    postmark.script(answer)

    with pytest.raises(TryLater) as stopped:
        chunk.drop_chunk_send(slot=SLOT, first=min(users), last=max(users), token="first")
    if answer == "429":
        assert stopped.value.retry_after == 1.0
    assert Delivery.objects.filter(status="due", token="").count() == 150  # handed back, free for the retry

    retry = chunk.drop_chunk_send(slot=SLOT, first=min(users), last=max(users), token="retry")

    assert retry.sent == 150
    assert sorted(postmark.recipients()) == sorted(f"fan{n:03d}@example.com" for n in range(150))


def test_an_answer_lost_after_postmark_accepted_repeats_only_that_batch_with_the_same_message_ids(postmark):
    users = fans(150)
    postmark.script("drop")

    with pytest.raises(TryLater):
        chunk.drop_chunk_send(slot=SLOT, first=min(users), last=max(users), token="first")
    chunk.drop_chunk_send(slot=SLOT, first=min(users), last=max(users), token="retry")

    recipients = postmark.recipients()
    repeats = len(recipients) - len(set(recipients))
    assert len(set(recipients)) == 150
    assert repeats == BATCH_SIZE  # the batch in doubt, and nothing else
    ids: dict[str, set[str]] = {}
    for message in postmark.accepted:
        ids.setdefault(message["To"], set()).add(postmark.header(message, "Message-ID"))
    assert all(len(v) == 1 for v in ids.values())


def test_other_email_goes_through_anymail_one_message_per_call_and_a_bad_address_is_refused(postmark):
    from anymail.exceptions import AnymailRecipientsRefused

    send_mail("Confirm your address", "Click", "drops@example.com", ["someone@example.com"])
    assert postmark.requests == [("/email", 1)]
    postmark.bad.add("broken@example.com")
    with pytest.raises(AnymailRecipientsRefused):
        send_mail("Confirm your address", "Click", "drops@example.com", ["broken@example.com"])


def test_provider_urls_name_their_backend_and_credentials():
    assert mailer_config("postmark://TOKEN") == {
        "BACKEND": "anymail.backends.postmark.EmailBackend", "OPTIONS": {"server_token": "TOKEN"},
    }  # fmt: skip
    assert mailer_config("mailgun://KEY@mg.example.com?api_url=https://api.eu.mailgun.net/v3")["OPTIONS"] == {
        "api_key": "KEY", "sender_domain": "mg.example.com", "api_url": "https://api.eu.mailgun.net/v3",
    }  # fmt: skip
    assert mailer_config("ses://AKIA:SECRET@eu-west-1")["OPTIONS"] == {
        "session_params": {"region_name": "eu-west-1", "aws_access_key_id": "AKIA", "aws_secret_access_key": "SECRET"}
    }
    for scheme, backend in [("sendgrid", "sendgrid"), ("brevo", "brevo"), ("resend", "resend")]:
        config = mailer_config(f"{scheme}://KEY")
        assert config == {"BACKEND": f"anymail.backends.{backend}.EmailBackend", "OPTIONS": {"api_key": "KEY"}}
