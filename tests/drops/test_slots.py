"""The send by hourly slot: whom each slot serves, one email per period, weekly digests, catch-up, the reasons."""

import datetime as dt
import io
import json

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from musicdrops.accounts.models import User
from musicdrops.catalog.models import Artist, Follow
from musicdrops.drops import chunk, fanout, recovery
from musicdrops.drops.models import DeliveredRelease, Delivery, DropSend
from musicdrops.drops.preview import drop_status
from tests.drops.test_send import artist, listener, release

pytestmark = pytest.mark.django_db(transaction=True)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def send_slot(slot: dt.datetime, *, catch_up_hours: int | None = 1) -> list[str]:
    """One slot's send, every chunk in this process; the addresses it emailed."""
    before = len(mail.outbox)
    queued: list[tuple[dt.datetime, list[int]]] = []
    fanout.drops_start(slot=slot, catch_up_hours=catch_up_hours)
    fanout.drops_fan_out(slot=slot, queue=lambda s, users: queued.append((s, users)))
    for s, users in queued:
        chunk.drop_chunk_send(slot=s, first=min(users), last=max(users), token=f"t-{s:%H}")
    return [m.to[0] for m in mail.outbox[before:]]


@pytest.fixture
def band() -> Artist:
    band = artist("Band", 1)
    for offset in range(-10, 10):  # a release every day around the first week of December
        release(band, f"Record {offset}", dt.date(2026, 12, 2) + dt.timedelta(days=offset), n=100 + offset)
    return band


def fan(email: str, band: Artist, **fields) -> User:
    user = listener(email, **fields)
    Follow.objects.create(user=user, artist=band)
    return user


def test_each_slot_serves_the_users_whose_delivery_time_it_is(band):
    fan("berlin@example.com", band, time_zone="Europe/Berlin")  # 08:00 = 07:00 UTC
    fan("kolkata@example.com", band, time_zone="Asia/Kolkata")  # 08:00 = 02:30 UTC
    fan("ny@example.com", band, time_zone="America/New_York", delivery_hour=20)  # 01:00 UTC the next day

    sent = {hour: send_slot(utc(2026, 12, 2, hour)) for hour in range(24)}

    assert {h: to for h, to in sent.items() if to} == {
        1: ["ny@example.com"],  # New York's evening of December 1
        3: ["kolkata@example.com"],
        7: ["berlin@example.com"],
    }
    subjects = {m.to[0]: m.subject for m in mail.outbox}
    assert subjects["ny@example.com"] == "New music for December 1, 2026"  # the reader's own date
    assert subjects["kolkata@example.com"] == "New music for December 2, 2026"


def test_a_slot_run_twice_or_caught_up_sends_each_period_once(band):
    fan("utc@example.com", band)
    slot = utc(2026, 12, 2, 8)

    assert send_slot(slot) == ["utc@example.com"]
    assert send_slot(slot) == []
    assert send_slot(slot + dt.timedelta(hours=2), catch_up_hours=3) == []  # the catch-up finds it sent
    assert Delivery.objects.get().period == "2026-12-02"


def test_a_missed_slot_is_caught_up_by_the_next_within_the_catch_up_window(band):
    fan("utc@example.com", band)

    assert send_slot(utc(2026, 12, 2, 10), catch_up_hours=3) == ["utc@example.com"]  # 08:00's slot never ran
    assert send_slot(utc(2026, 12, 3, 12), catch_up_hours=3) == []  # too late for December 3's 08:00


def test_a_weekly_digest_goes_on_its_weekday_with_the_whole_week(band):
    fan("weekly@example.com", band, digest="weekly", digest_weekday=0)  # Mondays

    emailed = [slot for day in range(1, 15) if send_slot(slot := utc(2026, 12, day, 8))]

    assert emailed == [utc(2026, 12, 7, 8), utc(2026, 12, 14, 8)]  # Mondays only
    first, second = (m.body for m in mail.outbox)
    for offset in range(-8, 6):  # everything dated in the 14 days up to Monday, December 7
        assert f"Record {offset} (" in first
    for offset in range(6, 10):  # and the next Monday, what came out since
        assert f"Record {offset} (" in second
        assert f"Record {offset} (" not in first
    assert sorted(Delivery.objects.values_list("period", flat=True)) == ["2026-W50", "2026-W51"]
    assert DeliveredRelease.objects.count() == 18


def test_switching_from_daily_to_weekly_never_repeats_a_release(band):
    user = fan("switch@example.com", band)
    send_slot(utc(2026, 12, 2, 8))
    User.objects.filter(pk=user.pk).update(digest="weekly", digest_weekday=3)  # Thursdays

    send_slot(utc(2026, 12, 3, 8))

    [daily, weekly] = mail.outbox
    assert "Record 0 (" in daily.body
    assert "Record 0 (" not in weekly.body
    assert "Record 1 (" in weekly.body


def test_the_command_queues_one_slot_as_the_beat_would_and_refuses_a_bad_one(redis_client):
    with pytest.raises(CommandError, match="an hour on the hour in UTC"):
        call_command("send_music_drops", slot="2026-12-02T07:30Z")
    with pytest.raises(CommandError, match="an hour on the hour in UTC"):
        call_command("send_music_drops", slot="2026-12-02T07:00")  # no zone
    with pytest.raises(CommandError, match="goes alone"):
        call_command("send_music_drops", slot="2026-12-02T07:00Z", date="2026-12-02")

    call_command("send_music_drops", slot="2026-12-02T07:00Z")

    [message] = [json.loads(raw) for raw in redis_client.lrange("drops", 0, -1)]
    assert message["headers"]["task"] == "musicdrops.drops.tasks.send_music_drops_task"
    assert message["headers"]["musicdrops_entry"] == "send-music-drops"  # the beat's own entry: one run per slot
    assert message["headers"]["musicdrops_slot"] == "2026-12-02T07:00:00+00:00"


def test_a_slot_that_already_ran_is_not_queued_again_nor_reported_as_a_duplicate(redis_client):
    from musicdrops.scheduler.models import DuplicateDispatch, ScheduledRun

    ScheduledRun.objects.create(entry="send-music-drops", slot=utc(2026, 12, 2, 7), task_id="t-1")
    out = io.StringIO()

    call_command("send_music_drops", slot="2026-12-02T07:00Z", stdout=out)

    assert "already ran (task t-1" in out.getvalue()
    assert "--resume" in out.getvalue()
    assert redis_client.llen("drops") == 0
    assert not DuplicateDispatch.objects.exists()
    call_command("send_music_drops", slot="2026-12-02T08:00Z", stdout=out)  # another slot goes
    assert redis_client.llen("drops") == 1


def test_the_command_sends_a_whole_day_itself_and_run_again_queues_nobody(band, redis_client):
    fan("berlin@example.com", band, time_zone="Europe/Berlin")
    fan("ny@example.com", band, time_zone="America/New_York", delivery_hour=20)
    out = io.StringIO()

    call_command("send_music_drops", date="2026-12-02", stdout=out)
    call_command("send_music_drops", date="2026-12-02", stdout=out)

    assert out.getvalue().splitlines() == [
        "started the send for 2026-12-02: 2 users queued",
        "started the send for 2026-12-02: 0 users queued",
    ]
    chunks = [json.loads(raw) for raw in redis_client.lrange("drops", 0, -1)]
    assert [chunk["headers"]["task"] for chunk in chunks] == ["musicdrops.drops.tasks.send_drop_chunk_task"] * 2
    assert DropSend.objects.count() == 24  # each hour's send of the day, each for its own hour only


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"email_verified_at": None}, "unconfirmed"),
        ({"receives_drops": False}, "off"),
        ({}, "scheduled"),
    ],
)
def test_the_reason_there_is_or_is_not_an_email(band, change, reason):
    user = fan("why@example.com", band, time_zone="Asia/Tokyo")
    User.objects.filter(pk=user.pk).update(**change)

    status = drop_status(user=User.objects.get(pk=user.pk), now=utc(2026, 12, 2, 12))  # 21:00 in Tokyo

    assert status.reason == reason
    assert (status.day, status.next_slot) == (dt.date(2026, 12, 3), utc(2026, 12, 2, 23))  # 08:00 there
    if reason == "scheduled":
        assert status.preview is not None
        assert "Record 1 (" in status.preview.text


def test_the_reasons_nothing_new_nobody_followed_and_already_sent(band):
    user = fan("why@example.com", band)
    send_slot(utc(2026, 12, 2, 8))
    assert drop_status(user=user, now=utc(2026, 12, 2, 9)).reason == "sent"
    assert drop_status(user=user, now=utc(2027, 3, 1, 9)).reason == "nothing-new"
    Follow.objects.all().delete()
    assert drop_status(user=user, now=utc(2026, 12, 2, 9)).reason == "no-follows"


def test_resume_takes_up_a_backfill_of_later_hours_but_leaves_untouched_future_slots_to_the_beat(band, monkeypatch):
    import django.utils.timezone

    fan("early@example.com", band, delivery_hour=6)
    fan("late@example.com", band, delivery_hour=20)
    fan("later@example.com", band, delivery_hour=22)
    now = utc(2026, 12, 2, 12)
    fanout.drops_start(slot=utc(2026, 12, 2, 20), catch_up_hours=1)  # a --date backfill started it, then died

    resumed: list[int] = []
    monkeypatch.setattr(django.utils.timezone, "now", lambda: now)
    recovery.drops_resume(day=dt.date(2026, 12, 2), queue=lambda _, users: resumed.extend(users))

    emails = set(User.objects.filter(pk__in=resumed).values_list("email", flat=True))
    assert emails == {"early@example.com", "late@example.com"}  # 22:00 is the beat's, later today
