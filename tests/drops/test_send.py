import datetime as dt
import smtplib
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog.models import Artist, Follow, ReleaseGroup, ReleasePreferences
from musicdrops.drops import chunk, emails, fanout, models, recovery
from musicdrops.drops.models import DeliveredRelease, Delivery, DropSend
from musicdrops.ops.demo import demo_seed
from musicdrops.redis_client import get_client

pytestmark = pytest.mark.django_db(transaction=True)

DAY = dt.date(2026, 6, 1)
SLOT = dt.datetime(2026, 6, 1, 8, tzinfo=dt.UTC)  # what serves DAY's email at the default 08:00 UTC


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


def send(day: dt.date = DAY, token: str = "attempt-1") -> chunk.ChunkOutcome:  # noqa: S107
    """A UTC day's slots, every chunk in this process: fan out, then send each queued chunk."""
    queued: list[tuple[dt.datetime, list[int]]] = []
    recovery.drops_start_day(day=day, queue=lambda slot, users: queued.append((slot, users)))
    total = chunk.ChunkOutcome()
    for slot, users in queued:
        got = chunk.drop_chunk_send(slot=slot, first=min(users), last=max(users), token=token)
        total.sent += got.sent
        total.failed += got.failed
        total.later += got.later
    return total


def queue_only(day: dt.date = DAY) -> list[int]:
    """Fan out without sending: the users queued."""
    queued: list[int] = []
    recovery.drops_start_day(day=day, queue=lambda _, users: queued.extend(users))
    return queued


def sweep_into(queued: list[int], *, redis_emptied: bool = False) -> None:
    """A sweep; a fan-out it takes up runs here, its page at once."""
    if not redis_emptied:
        get_client().set(fanout.QUEUES_MARK, "1")
    fanout.drops_sweep(
        queue=lambda _, users: queued.extend(users),
        queue_page=lambda slot: queued.extend(fanout.drops_fan_out_page(slot=slot)[0]),
    )


def claim(
    user_ids: list[int], token: str, *, at: dt.datetime | None = None, lease: float = 120
) -> dict[int, models.Claim]:
    now = at or timezone.now()
    return models.deliveries_claim(
        slot=SLOT,
        first=min(user_ids),
        last=max(user_ids),
        token=token,
        now=now,
        lease_until=now + dt.timedelta(seconds=lease),
    )


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
    assert message.extra_headers["Message-ID"] == emails.message_id(scene.pk, str(DAY))
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.message_id) == ("sent", emails.message_id(scene.pk, str(DAY)))


def test_hostile_titles_are_escaped_in_the_html(scene):
    release(Artist.objects.get(name="Motörhead"), '<img src=x onerror="alert(1)">')

    send()

    html = html_of(mail.outbox[0])
    assert "<img src=x" not in html
    assert "&lt;img src=x" in html


def test_running_the_day_again_sends_nothing_and_a_release_is_never_sent_twice(scene):
    send()
    send(token="attempt-2")
    assert len(mail.outbox) == 1

    send(DAY + dt.timedelta(days=1), token="attempt-3")  # yesterday's releases are still within the window

    [_, next_day] = mail.outbox
    assert "Tomorrow" in next_day.body
    for already_sent in ("Ace of Spades", "Iron Fist", "Takk"):
        assert already_sent not in next_day.body
    assert DeliveredRelease.objects.count() == 4


def test_a_live_claim_is_never_taken_whoever_asks_an_expired_one_can_be(scene):
    [user_id] = queue_only()
    claim([user_id], "frozen")  # an attempt that then froze, its lease still running

    assert chunk.drop_chunk_send(slot=SLOT, first=user_id, last=user_id, token="redelivered").claimed == 0
    assert mail.outbox == []

    Delivery.objects.update(lease_until=timezone.now() - dt.timedelta(seconds=1))  # the lease ran out
    assert chunk.drop_chunk_send(slot=SLOT, first=user_id, last=user_id, token="rescuer").sent == 1
    assert len(mail.outbox) == 1


def test_an_attempt_that_lost_its_claim_stops_after_the_message_in_flight(scene, monkeypatch):
    others = [listener(f"fan{n}@example.com") for n in range(4)]
    for fan in others:
        Follow.objects.create(user=fan, artist=Artist.objects.get(name="Motörhead"))
    users = queue_only()
    from django.core.mail.backends import locmem

    original = locmem.EmailBackend.send_messages

    def taken_over_during_the_first_message(self, messages):
        sent = original(self, messages)
        if len(mail.outbox) == 1:  # while it sent, it was frozen past its lease and another attempt took over
            Delivery.objects.update(token="successor")
        return sent

    monkeypatch.setattr(locmem.EmailBackend, "send_messages", taken_over_during_the_first_message)

    outcome = chunk.drop_chunk_send(slot=SLOT, first=min(users), last=max(users), token="zombie")

    assert (outcome.sent, outcome.lost_claim, outcome.later) == (0, True, [])
    assert len(mail.outbox) == 1  # the one in flight, nothing after it
    assert set(Delivery.objects.values_list("token", flat=True)) == {"successor"}


def test_a_chunk_out_of_time_hands_the_rest_back_for_at_once(scene, settings):
    for n in range(3):
        Follow.objects.create(user=listener(f"fan{n}@example.com"), artist=Artist.objects.get(name="Motörhead"))
    users = queue_only()
    settings.DROPS_CHUNK_SECONDS = 0  # out of time before the first message

    outcome = chunk.drop_chunk_send(slot=SLOT, first=min(users), last=max(users), token="slow")

    assert (outcome.sent, outcome.time_up, outcome.later) == (0, True, sorted(users))
    assert set(Delivery.objects.values_list("token", "status")) == {("", "due")}  # free for the next attempt
    settings.DROPS_CHUNK_SECONDS = 60
    assert chunk.drop_chunk_send(slot=SLOT, first=min(outcome.later), last=max(outcome.later), token="next").sent == 4


def test_a_temporary_refusal_is_tried_again_later_not_marked_failed(scene, monkeypatch):
    from django.core.mail.backends import locmem

    original = locmem.EmailBackend.send_messages
    answers = [smtplib.SMTPRecipientsRefused({"fan@example.com": (451, b"4.7.1 Try again later")})]

    def greylist_once(self, messages):
        if answers:
            raise answers.pop()
        return original(self, messages)

    monkeypatch.setattr(locmem.EmailBackend, "send_messages", greylist_once)
    [user_id] = queue_only()

    first = chunk.drop_chunk_send(slot=SLOT, first=user_id, last=user_id, token="first")
    assert (first.sent, first.failed, first.later) == (0, 0, [user_id])
    assert Delivery.objects.get().status == "due"

    Delivery.objects.update(lease_until=timezone.now())  # the back-off passed
    assert chunk.drop_chunk_send(slot=SLOT, first=user_id, last=user_id, token="again").sent == 1


def test_the_sweep_queues_again_whoever_a_lapsed_chunk_left_due(scene):
    users = queue_only()  # queued; then the message was lost with Redis
    sweep: list[int] = []
    sweep_into(sweep)
    assert sweep == []  # still reserved for the chunk that was queued

    Delivery.objects.update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    sweep_into(sweep)
    assert sweep == users
    sweep_into(sweep)
    assert sweep == users  # reserved again: not queued twice


def test_after_redis_came_back_empty_the_sweep_queues_at_once_everyone_due_and_not_being_sent(scene):
    other = listener("other@example.com")
    Follow.objects.create(user=other, artist=Artist.objects.get(name="Motörhead"))
    queue_only()  # both reserved for chunks; then Redis restarted empty, and the chunks with it
    claim([scene.pk], "sending")
    sweep: list[int] = []

    sweep_into(sweep, redis_emptied=True)
    assert sweep == [other.pk]  # not the one being sent, and without waiting for the reservation to run out
    sweep_into(sweep)
    assert sweep == [other.pk]  # once


def test_the_sweep_never_queues_a_user_under_a_live_claim_or_already_sent(scene):
    other = listener("other@example.com")
    Follow.objects.create(user=other, artist=Artist.objects.get(name="Motörhead"))
    users = queue_only()
    Delivery.objects.update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    claim([scene.pk], "sending")
    sent = chunk.drop_chunk_send(slot=SLOT, first=other.pk, last=other.pk, token="done")
    assert sent.sent == 1
    assert len(users) == 2

    sweep: list[int] = []
    sweep_into(sweep)
    assert sweep == []


def test_resume_queues_whoever_is_still_due_even_if_reserved_never_a_live_claim(scene):
    other = listener("other@example.com")
    Follow.objects.create(user=other, artist=Artist.objects.get(name="Motörhead"))
    queue_only()  # both reserved for chunks Redis then lost
    claim([scene.pk], "sending")

    resumed: list[int] = []
    assert recovery.drops_resume(day=DAY, queue=lambda _, chunk: resumed.extend(chunk)) == 1
    assert resumed == [other.pk]


def test_the_sweep_goes_on_with_a_fan_out_that_stopped(scene, settings):
    # Its next page's task was lost before it ran, longer ago than a page may wait.
    fanout.drops_start(slot=SLOT, catch_up_hours=1)
    long_ago = timezone.now() - dt.timedelta(seconds=settings.DROPS_FAN_OUT_STALL_SECONDS + 1)
    DropSend.objects.update(progress_at=long_ago)

    sweep: list[int] = []
    sweep_into(sweep)

    assert sweep == [scene.pk]
    assert DropSend.objects.get().fanned_out_at is not None


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


def test_message_ids_are_stable_per_user_and_period():
    assert emails.message_id(7, "2026-06-01") == emails.message_id(7, "2026-06-01")
    assert emails.message_id(7, "2026-06-01") != emails.message_id(8, "2026-06-01")
    assert emails.message_id(7, "2026-06-01") != emails.message_id(7, "2026-06-02")
    assert emails.message_id(7, "2026-W23").startswith("<drop.2026W23.7.")


def test_a_user_who_unsubscribed_after_the_fan_out_is_dropped_not_sent(scene):
    [user_id] = queue_only()
    User.objects.filter(pk=user_id).update(receives_drops=False)

    assert chunk.drop_chunk_send(slot=SLOT, first=user_id, last=user_id, token="t").claimed == 0
    assert mail.outbox == []
    assert not Delivery.objects.exists()  # nobody is left overdue


def test_every_attempt_sends_the_message_id_the_ledger_stored_even_after_a_key_rotation(scene, settings):
    [user_id] = queue_only()
    stored = Delivery.objects.get().message_id
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-key-" + "x" * 50, [settings.SECRET_KEY]

    chunk.drop_chunk_send(slot=SLOT, first=user_id, last=user_id, token="after-rotation")

    assert mail.outbox[0].extra_headers["Message-ID"] == stored
