"""Announcements (musicdrops/drops/fanout.py): an upcoming release newly found, told once to the fans who asked."""

import datetime as dt
import email
import re
from email import policy

import icalendar
import pytest
from django.core import mail

from musicdrops.catalog.models import DatePrecision, Follow, ReleaseGroup, ReleasePreferences
from musicdrops.drops import chunk, fanout, mailer, models
from musicdrops.drops.models import DeliveredRelease, Delivery
from tests.drops.test_send import DAY, SLOT, artist, html_of, listener, queue_only, release, send
from tests.feeds.test_feeds import assert_strict_rfc5545

pytestmark = pytest.mark.django_db(transaction=True)

FOUND = dt.datetime.combine(DAY - dt.timedelta(days=1), dt.time(12), tzinfo=dt.UTC)  # the day before DAY's email


def upcoming(
    band, title: str, day: dt.date | None, *, found: dt.datetime = FOUND, date_precision: str = "day", **fields
) -> ReleaseGroup:
    rg = release(band, title, **fields)
    ReleaseGroup.objects.filter(pk=rg.pk).update(
        first_seen_at=found, first_release_date=day, date_precision=date_precision
    )
    return rg


def fan(address: str, *, on_release_day: bool = True, when_announced: bool = True, **fields):
    user = listener(address, **fields)
    ReleasePreferences.objects.create(user=user, on_release_day=on_release_day, when_announced=when_announced)
    return user


def follows(user, band) -> None:
    Follow.objects.create(user=user, artist=band)


@pytest.fixture
def band():
    return artist("Band", 1)


def test_an_upcoming_release_newly_found_is_announced_at_any_precision_to_those_who_asked(band):
    soon = upcoming(band, "Soon", DAY + dt.timedelta(days=20))
    month = upcoming(band, "Next Month", dt.date(2026, 7, 1), date_precision=DatePrecision.MONTH)
    year = upcoming(band, "Next Year", dt.date(2027, 1, 1), date_precision=DatePrecision.YEAR)
    upcoming(band, "This Month", dt.date(2026, 6, 1), date_precision=DatePrecision.MONTH)  # may be out already
    upcoming(band, "Undated", None, date_precision=DatePrecision.UNKNOWN)
    upcoming(band, "Known For Long", DAY + dt.timedelta(days=9), found=FOUND - dt.timedelta(days=7))
    upcoming(band, "Found Later", DAY + dt.timedelta(days=9), found=FOUND + dt.timedelta(days=2))
    upcoming(band, "A Live One", DAY + dt.timedelta(days=9), kind="live")  # not a kind they want
    upcoming(band, "Withdrawn", DAY + dt.timedelta(days=9), removed_at=FOUND)
    upcoming(artist("Someone Else", 2), "Not Followed", DAY + dt.timedelta(days=9))
    asked, default = fan("asked@example.com"), listener("default@example.com")
    follows(asked, band)
    follows(default, band)

    found = fanout.announcements(user_ids=[asked.pk, default.pk], day=DAY)

    assert found == {asked.pk: sorted([soon.pk, month.pk, year.pk])}


def test_a_fan_with_only_announcements_due_gets_one_email_and_each_release_is_announced_once_released_once(band):
    soon = upcoming(band, "Soon", DAY + dt.timedelta(days=2))
    both = fan("both@example.com")
    follows(both, band)

    assert send().sent == 1  # the announcement alone
    assert send(DAY + dt.timedelta(days=1)).sent == 0  # nothing new: announced already
    assert send(DAY + dt.timedelta(days=2)).sent == 1  # its day

    announcement, released = mail.outbox[0].body, mail.outbox[1].body
    assert "Announced" in announcement
    assert "Soon" in announcement
    assert "Announced" not in released
    assert "Soon" in released
    kinds = sorted(DeliveredRelease.objects.filter(release_group=soon).values_list("kind", flat=True))
    assert kinds == ["announced", "released"]
    assert send(DAY + dt.timedelta(days=3)).sent == 0


def test_the_choice_of_when_is_kept(band):
    soon = upcoming(band, "Soon", DAY + dt.timedelta(days=2))
    only_announced = fan("announced@example.com", on_release_day=False)
    only_release_day = fan("day@example.com", when_announced=False)
    follows(only_announced, band)
    follows(only_release_day, band)

    send()
    send(DAY + dt.timedelta(days=2))

    got = sorted((m.to[0], "Announced" in m.body) for m in mail.outbox)
    assert got == [("announced@example.com", True), ("day@example.com", False)]
    assert not DeliveredRelease.objects.filter(user=only_announced, kind="released").exists()
    assert not DeliveredRelease.objects.filter(user=only_release_day, kind="announced").exists()
    assert DeliveredRelease.objects.filter(release_group=soon).count() == 2


def test_a_weekly_digest_looks_back_as_far_for_announcements_as_for_releases(band):
    found = FOUND - dt.timedelta(days=10)
    soon = upcoming(band, "Soon", DAY + dt.timedelta(days=30), found=found)
    daily = fan("daily@example.com")
    weekly = fan("weekly@example.com", digest="weekly", digest_weekday=DAY.weekday())
    follows(daily, band)
    follows(weekly, band)

    assert fanout.announcements(user_ids=[daily.pk], day=DAY) == {}
    assert fanout.announcements(user_ids=[weekly.pk], day=DAY, days=fanout.NEW_FOR_DAYS_WEEKLY) == {
        weekly.pk: [soon.pk]
    }
    assert send().sent == 1
    assert mail.outbox[0].to == ["weekly@example.com"]


def test_a_refused_email_frees_its_announcements_for_another_day(band):
    upcoming(band, "Soon", DAY + dt.timedelta(days=5))
    user = fan("both@example.com")
    follows(user, band)
    queue_only()
    delivery = Delivery.objects.get(user=user)
    Delivery.objects.filter(pk=delivery.pk).update(token="t")
    tomorrow = DAY + dt.timedelta(days=1)
    assert fanout.announcements(user_ids=[user.pk], day=tomorrow) == {}  # held by today's email

    models.delivery_mark_failed(delivery_id=delivery.pk, token="t", error="550 no such user")

    assert fanout.announcements(user_ids=[user.pk], day=tomorrow) != {}


def test_the_announced_part_comes_after_the_new_releases_escaped_in_both_parts(band):
    release(band, "Out <b>Today</b>")
    upcoming(band, 'Soon <script>alert("x")</script>', DAY + dt.timedelta(days=3))
    follows(fan("both@example.com"), band)

    send()

    [message] = mail.outbox
    text, html = message.body, html_of(message)
    assert text.index("Out <b>Today</b>") < text.index("Announced") < text.index('Soon <script>alert("x")</script>')
    assert "<script>" not in html
    assert "Soon &lt;script&gt;" in html
    assert html.index("Out &lt;b&gt;Today") < html.index(">Announced<") < html.index("Soon &lt;script&gt;")


def test_an_email_with_no_announcements_has_no_announced_part_and_no_calendar(band):
    release(band, "Out Today")
    follows(listener(), band)

    send()

    [message] = mail.outbox
    assert "Announced" not in message.body
    assert message.attachments == []


def calendar_of(message) -> bytes:
    [(name, content, kind)] = message.attachments
    assert (name, kind) == ("upcoming-releases.ics", "text/calendar")
    return content.encode() if isinstance(content, str) else content


def test_the_upcoming_releases_come_as_a_strict_rfc5545_calendar(band):
    exact = upcoming(band, 'Commas, semi;colons \\ and a\nnewline: "x"', DAY + dt.timedelta(days=3))
    month = upcoming(band, "Next Month", dt.date(2026, 7, 1), date_precision=DatePrecision.MONTH)
    upcoming(band, "A title long enough to be folded over more than one line " * 3, DAY + dt.timedelta(days=4))
    follows(fan("both@example.com"), band)

    send()

    body = calendar_of(mail.outbox[0])
    assert_strict_rfc5545(body)
    events = {str(e["UID"]): e for e in icalendar.Calendar.from_ical(body.decode()).walk("VEVENT")}
    assert len(events) == 3
    one, span = events[f"{exact.mbid}@localhost"], events[f"{month.mbid}@localhost"]
    # All day on its date; a month's date across the month; each with its time stamp.
    assert (one.decoded("DTSTART"), one.decoded("DTEND")) == (DAY + dt.timedelta(days=3), DAY + dt.timedelta(days=4))
    assert (span.decoded("DTSTART"), span.decoded("DTEND")) == (dt.date(2026, 7, 1), dt.date(2026, 8, 1))
    assert all(e.decoded("DTSTAMP") == dt.datetime(2026, 6, 1, 8, tzinfo=dt.UTC) for e in events.values())
    assert str(one["SUMMARY"]).startswith('Commas, semi;colons \\ and a\nnewline: "x", by Band')
    unfolded = body.decode().replace("\r\n ", "")
    assert 'SUMMARY:Commas\\, semi\\;colons \\\\ and a\\nnewline: "x"\\, by Band' in unfolded
    assert re.search(r"\r\n [^\r]", body.decode()), "a long line is folded"


def test_the_calendar_is_the_same_for_every_attempt(band):
    upcoming(band, "Soon", DAY + dt.timedelta(days=3))
    user = fan("both@example.com")
    follows(user, band)
    send()
    first = calendar_of(mail.outbox[0])
    mail.outbox.clear()
    Delivery.objects.update(status="due", token="")  # as if the worker died before recording the send

    chunk.drop_chunk_send(slot=SLOT, first=user.pk, last=user.pk, token="attempt-2")

    assert calendar_of(mail.outbox[0]) == first


def test_smtp_carries_the_calendar_byte_for_byte_beside_both_alternatives():
    calendar = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n" * 40
    message = mailer.Email(subject="s", text="t", html="<p>h</p>", from_email="a@example.com", to="b@example.com",
                           headers={}, attachments=(("upcoming-releases.ics", calendar, "text/calendar"),))  # fmt: skip

    raw = mailer.mime_bytes(message)

    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    assert parsed.get_body(("plain",)).get_content() == "t"  # type: ignore[union-attr]
    [attachment] = parsed.iter_attachments()
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_filename() == "upcoming-releases.ics"
    assert attachment.get_payload(decode=True) == calendar.encode()


def test_the_settings_page_offers_when_and_refuses_neither(client):
    from django.urls import reverse

    user = listener()
    client.force_login(user)
    url = reverse("catalog:preferences")
    page = client.get(url).content.decode()
    assert "When it is announced" in page

    refused = client.post(url, {"kinds": ["album"], "when_shown": "True"})

    assert refused.status_code == 200
    assert "Choose at least one: on its release day, when it is announced, or both." in refused.content.decode()
    assert not ReleasePreferences.objects.filter(user=user).exists()

    client.post(url, {"kinds": ["album"], "when": ["announced"], "when_shown": "True"})
    saved = ReleasePreferences.objects.get(user=user)
    assert (saved.on_release_day, saved.when_announced) == (False, True)

    client.post(url, {"kinds": ["album", "ep"]})  # from a page older than the choice: it stays
    saved.refresh_from_db()
    assert (saved.on_release_day, saved.when_announced, saved.wanted_kinds()) == (False, True, ["album", "ep"])


def test_the_email_preview_shows_the_announced_part(band):
    from musicdrops.drops.preview import drop_status

    upcoming(band, "Soon & Sooner", DAY + dt.timedelta(days=3))
    user = fan("both@example.com")
    follows(user, band)

    status = drop_status(user=user, now=dt.datetime(2026, 6, 1, 7, tzinfo=dt.UTC))

    assert status.reason == "scheduled"
    assert status.preview is not None
    assert (status.preview.releases, status.preview.announced) == (0, 1)
    assert ">Announced<" in status.preview.html
    assert "Soon &amp; Sooner" in status.preview.html
