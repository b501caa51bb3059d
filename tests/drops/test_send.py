import datetime as dt
import smtplib
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog.models import Artist, Follow, ReleaseGroup, ReleasePreferences
from musicdrops.drops import emails, ledger, selectors, services
from musicdrops.drops.models import DeliveredRelease, Delivery
from musicdrops.ops.demo import demo_seed

pytestmark = pytest.mark.django_db(transaction=True)

DAY = dt.date(2026, 6, 1)


def html_of(message: Any) -> str:
    """The HTML alternative of a sent email."""
    return str(message.alternatives[0][0])


def listener(email: str = "fan@example.com", **fields) -> User:
    return User.objects.create_user(email, "correct-horse-battery-staple", email_verified_at=timezone.now(), **fields)


def artist(name: str, n: int) -> Artist:
    return Artist.objects.create(mbid=f"00000000-0000-4000-8000-{n:012d}", name=name)


def release(
    artist: Artist, title: str, day: dt.date = DAY, *, kind: str = "album", n: int = 0, **fields
) -> ReleaseGroup:
    rg = ReleaseGroup.objects.create(
        mbid=f"10000000-0000-4000-8000-{n or ReleaseGroup.objects.count() + 1:012d}",
        title=title, kind=kind, primary_type=kind.title(), first_release_date=day, date_precision="day", **fields,
    )  # fmt: skip
    rg.artists.add(artist)
    return rg


def send(day: dt.date = DAY, task_id: str = "task-1") -> services.ChunkFigures:
    figures = services.ChunkFigures()
    for chunk in services.drops_fan_out(day=day):
        got = services.drop_chunk_send(day=day, user_ids=chunk, task_id=task_id)
        figures.sent += got.sent
        figures.failed += got.failed
    return figures


@pytest.fixture
def scene():
    fan = listener()
    motorhead, sigur = artist("Motörhead", 1), artist("Sigur Rós", 2)
    Follow.objects.create(user=fan, artist=motorhead)
    Follow.objects.create(user=fan, artist=sigur)
    release(motorhead, "Ace of Spades")
    release(motorhead, "Iron Fist", kind="single")
    release(sigur, "Takk… & more", DAY - dt.timedelta(days=2))
    release(sigur, "Too Old", DAY - dt.timedelta(days=30))
    release(sigur, "Tomorrow", DAY + dt.timedelta(days=1))
    return fan


def test_one_email_grouped_by_artist_with_the_new_releases(scene):
    assert send().sent == 1

    [message] = mail.outbox
    assert message.to == ["fan@example.com"]
    assert message.subject == "New music for June 1, 2026"
    text = message.body
    assert text.index("Motörhead") < text.index("Ace of Spades") < text.index("Sigur Rós") < text.index("Takk… & more")
    assert "Iron Fist (Single, June 1, 2026)" in text
    assert "Too Old" not in text
    assert "Tomorrow" not in text
    html = html_of(message)
    assert "Takk… &amp; more" in html
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.extra_headers["List-Unsubscribe"] == f"<{emails.unsubscribe_url(scene.pk)}>"
    assert emails.unsubscribe_url(scene.pk) in text
    assert message.extra_headers["Message-ID"] == emails.message_id(scene.pk, DAY)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.message_id) == ("sent", emails.message_id(scene.pk, DAY))


def test_hostile_titles_are_escaped_in_the_html(scene):
    release(Artist.objects.get(name="Motörhead"), '<img src=x onerror="alert(1)">')

    send()

    html = html_of(mail.outbox[0])
    assert "<img src=x" not in html
    assert "&lt;img src=x" in html


def test_running_the_day_again_sends_nothing_and_a_release_is_never_sent_twice(scene):
    send()
    send(task_id="task-2")
    assert len(mail.outbox) == 1

    send(DAY + dt.timedelta(days=1), task_id="task-3")  # yesterday's releases are still within the window

    [_, next_day] = mail.outbox
    assert "Tomorrow" in next_day.body
    for already_sent in ("Ace of Spades", "Iron Fist", "Takk"):
        assert already_sent not in next_day.body
    assert DeliveredRelease.objects.count() == 4


def test_a_retry_of_the_same_task_takes_over_its_claims_another_task_cannot(scene):
    wanted = selectors.new_releases(user_ids=[scene.pk], day=DAY)
    ledger.deliveries_claim(day=DAY, wanted=wanted, task_id="first", now=timezone.now())  # then it "died"

    assert services.drop_chunk_send(day=DAY, user_ids=[scene.pk], task_id="intruder").sent == 0
    assert services.drop_chunk_send(day=DAY, user_ids=[scene.pk], task_id="first").sent == 1
    assert len(mail.outbox) == 1


def test_an_expired_claim_can_be_taken_over(scene):
    wanted = selectors.new_releases(user_ids=[scene.pk], day=DAY)
    long_ago = timezone.now() - dt.timedelta(hours=1)
    ledger.deliveries_claim(day=DAY, wanted=wanted, task_id="dead", now=long_ago)

    assert services.drop_chunk_send(day=DAY, user_ids=[scene.pk], task_id="rescuer").sent == 1


@pytest.mark.parametrize(
    "change",
    [
        {"receives_drops": False},
        {"email_verified_at": None},
        {"is_active": False},
    ],
)
def test_unsubscribed_unverified_or_inactive_users_get_nothing(scene, change):
    User.objects.filter(pk=scene.pk).update(**change)

    assert send().sent == 0
    assert mail.outbox == []


def test_nothing_new_means_no_email(scene):
    assert send(DAY + dt.timedelta(days=40)).sent == 0
    assert mail.outbox == []
    assert Delivery.objects.count() == 0


def test_preferences_choose_the_kinds(scene):
    ReleasePreferences.objects.create(user=scene, album=False, ep=False, single=True)

    send()

    assert "Iron Fist" in mail.outbox[0].body
    assert "Ace of Spades" not in mail.outbox[0].body


def test_a_refused_address_is_recorded_and_does_not_stop_the_others(scene, monkeypatch):
    other = listener("other@example.com")
    Follow.objects.create(user=other, artist=Artist.objects.get(name="Motörhead"))
    from django.core.mail.backends import locmem

    original = locmem.EmailBackend.send_messages

    def refuse_fan(self, messages):
        if messages[0].to == ["fan@example.com"]:
            raise smtplib.SMTPRecipientsRefused({"fan@example.com": (550, b"no such user")})
        return original(self, messages)

    monkeypatch.setattr(locmem.EmailBackend, "send_messages", refuse_fan)

    figures = send()

    assert (figures.sent, figures.failed) == (1, 1)
    assert mail.outbox[0].to == ["other@example.com"]
    failed = Delivery.objects.get(user=scene)
    assert failed.status == "failed"
    assert "no such user" in failed.error
    assert not DeliveredRelease.objects.filter(user=scene).exists()  # free for another day


def test_an_address_that_cannot_be_written_into_a_message_is_recorded_and_does_not_stop_the_others(scene):
    unwritable = listener("fän@example.com")  # a non-ASCII mailbox needs SMTPUTF8, which we do not speak
    Follow.objects.create(user=unwritable, artist=Artist.objects.get(name="Motörhead"))

    figures = send()

    assert (figures.sent, figures.failed) == (1, 1)
    assert [m.to for m in mail.outbox] == [["fan@example.com"]]
    assert Delivery.objects.get(user=unwritable).status == "failed"


def test_seed_demo_gives_exactly_one_email_per_user_and_is_idempotent():
    demo_seed(users=40, demo_email_address="demo@example.com", demo_password="pw-demo-1234", today=DAY)
    counts = (User.objects.count(), Follow.objects.count(), ReleaseGroup.objects.count())
    demo_seed(users=40, demo_email_address="demo@example.com", demo_password="pw-demo-1234", today=DAY)
    assert (User.objects.count(), Follow.objects.count(), ReleaseGroup.objects.count()) == counts

    assert send().sent == 41  # 40 listeners and the demo login
    assert len({m.to[0] for m in mail.outbox}) == 41


def test_message_ids_are_stable_per_user_and_day():
    assert emails.message_id(7, DAY) == emails.message_id(7, DAY)
    assert emails.message_id(7, DAY) != emails.message_id(8, DAY)
    assert emails.message_id(7, DAY) != emails.message_id(7, DAY + dt.timedelta(days=1))


def test_a_sent_mark_left_in_redis_by_a_dead_sender_stops_a_resend(scene):
    wanted = selectors.new_releases(user_ids=[scene.pk], day=DAY)
    long_ago = timezone.now() - dt.timedelta(hours=1)
    [(delivery_id, _)] = ledger.deliveries_claim(day=DAY, wanted=wanted, task_id="dead", now=long_ago).values()
    ledger.delivery_mark_sent(day=DAY, delivery_id=delivery_id)  # the server took it; then the worker died

    assert services.drop_chunk_send(day=DAY, user_ids=[scene.pk], task_id="rescuer").sent == 0
    assert mail.outbox == []
    delivery = Delivery.objects.get(pk=delivery_id)
    assert delivery.status == "sent"
    assert delivery.message_id == emails.message_id(scene.pk, DAY)
