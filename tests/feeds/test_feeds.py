"""Private Atom and iCal feeds: token URLs, resettable, escaped, nobody else's releases."""

import datetime as dt
import re
import xml.etree.ElementTree as ET

import icalendar
import pytest
from django.urls import reverse
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog import ical
from musicdrops.catalog.models import Artist, Follow, ReleaseGroup
from musicdrops.feeds import services
from tests.hostile import FORBIDDEN, HOSTILE_STORED, ZERO_WIDTH_RUN

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"


def release(artist: Artist, title: str, day: dt.date, n: int, precision: str = "day") -> ReleaseGroup:
    rg = ReleaseGroup.objects.create(
        mbid=f"20000000-0000-4000-8000-{n:012d}", title=title, kind="album", primary_type="Album",
        first_release_date=day, date_precision=precision,
    )  # fmt: skip
    rg.artists.add(artist)
    return rg


@pytest.fixture
def library(user):
    today = timezone.localdate()
    mine = Artist.objects.create(mbid="00000000-0000-4000-8000-000000000001", name="Sigur Rós")
    theirs = Artist.objects.create(mbid="00000000-0000-4000-8000-000000000002", name="Someone Else")
    Follow.objects.create(user=user, artist=mine)
    other = User.objects.create_user("other@example.com", "long-enough-password")
    Follow.objects.create(user=other, artist=theirs)
    release(mine, "Takk <b>&</b> more; yes, really", today, 1)
    release(mine, "Next Year's Thing", today + dt.timedelta(days=40), 2)
    release(mine, "Only the month is known", today.replace(day=1), 3, precision="month")
    release(theirs, "Not yours", today, 4)
    return user


def feed_urls(user: User) -> tuple[str, str]:
    token = services.feed_token_for(user=user)
    return reverse("feeds:atom", args=[token]), reverse("feeds:ical", args=[token])


def test_the_atom_feed_lists_the_users_releases_escaped(client, library):
    atom, _ = feed_urls(library)
    client.logout()  # feed readers have no session: the token is the key

    response = client.get(atom)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)  # noqa: S314 (our own response) well-formed despite the "<b>&</b>"
    titles = [entry.findtext(f"{ATOM}title") for entry in root.iter(f"{ATOM}entry")]
    assert "Takk <b>&</b> more; yes, really, by Sigur Rós" in titles
    assert "Next Year's Thing, by Sigur Rós" in titles
    assert not any("Not yours" in (t or "") for t in titles)
    assert b"fan@example.com" not in response.content  # the address never leaves the site


def test_the_calendar_has_one_all_day_event_per_dated_release(client, library):
    _, calendar = feed_urls(library)
    client.logout()

    response = client.get(calendar)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    body = response.content.decode()
    assert body.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert body.endswith("END:VCALENDAR\r\n")
    assert body.count("BEGIN:VEVENT") == 2  # the month-only release is not an event on a day
    unfolded = body.replace("\r\n ", "")
    assert "SUMMARY:Takk <b>&</b> more\\; yes\\, really\\, by Sigur Rós\r\n" in unfolded
    assert f"DTSTART;VALUE=DATE:{timezone.localdate():%Y%m%d}\r\n" in body
    assert "Not yours" not in body
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))


def test_resetting_the_token_turns_the_old_urls_off(client, library):
    old_atom, old_ical = feed_urls(library)

    response = client.post(reverse("feeds:reset"), follow=True)

    assert "New feed addresses made" in response.content.decode()
    new_atom, _ = feed_urls(library)
    assert new_atom != old_atom
    assert client.get(old_atom).status_code == 404
    assert client.get(old_ical).status_code == 404
    assert client.get(new_atom).status_code == 200


def test_unknown_tokens_and_deactivated_users_are_404s(client, library):
    atom, _ = feed_urls(library)
    assert client.get(reverse("feeds:atom", args=["A" * 32])).status_code == 404
    User.objects.filter(pk=library.pk).update(is_active=False)
    assert client.get(atom).status_code == 404


def test_the_feeds_page_shows_the_users_own_urls(client, library):
    atom, calendar = feed_urls(library)

    page = client.get(reverse("feeds:manage")).content.decode()

    assert atom in page
    assert calendar in page


def test_reset_is_a_post_only(client, library):
    assert client.get(reverse("feeds:reset")).status_code == 405


def test_long_lines_are_folded_without_splitting_characters():
    event = ical.Event(uid="x@y", day=dt.date(2026, 1, 2), summary="坂本龍一 " * 20, description="d", url="https://e")

    body = ical.calendar(name="n", events=[event], stamp=timezone.now())

    lines = body.split("\r\n")
    assert all(len(line.encode()) <= 75 for line in lines)
    assert "SUMMARY:" + "坂本龍一 " * 20 in body.replace("\r\n ", "")


# RFC 5545 3.1: name *(";" param) ":" value, where neither may hold a control character but tab.
_CONTENT_LINE = re.compile(
    r'[A-Za-z0-9-]+(;[A-Za-z0-9-]+=("[^"\x00-\x08\x0a-\x1f\x7f]*"|[^";:,\x00-\x08\x0a-\x1f\x7f]*))*:[^\x00-\x08\x0a-\x1f\x7f]*'
)
# 3.3.11: in a TEXT value ";" and "," are escaped with a backslash.
_TEXT = re.compile(r"(SUMMARY|DESCRIPTION|X-WR-CALNAME):(\\[\\;,nN]|[^\\;,])*")


def assert_strict_rfc5545(body: bytes) -> None:
    text = body.decode("utf-8")  # 3.1.4: UTF-8
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    for line in re.sub(r"\r\n[ \t]", "", text).split("\r\n")[:-1]:
        assert _CONTENT_LINE.fullmatch(line), repr(line)
        if _TEXT.match(line):
            assert _TEXT.fullmatch(line), repr(line)
    calendar = icalendar.Calendar.from_ical(text)
    assert not calendar.errors
    assert all(not event.errors for event in calendar.walk("VEVENT"))


def test_a_title_with_every_control_character_keeps_both_feeds_valid(client, library):
    # Stored before the border cleaned text: the feeds must survive it anyway.
    ReleaseGroup.objects.filter(title__startswith="Takk").update(title=HOSTILE_STORED)
    Artist.objects.filter(name="Sigur Rós").update(name="Sigur\x0bRós\x1b")
    atom, calendar = feed_urls(library)

    atom_response = client.get(atom)
    calendar_response = client.get(calendar)

    assert atom_response.status_code == 200
    root = ET.fromstring(atom_response.content)  # noqa: S314 (our own response)
    titles = [entry.findtext(f"{ATOM}title") or "" for entry in root.iter(f"{ATOM}entry")]
    assert "\t\nBad\u200bTitle\u200d end, by SigurRós" in titles
    assert not any(FORBIDDEN.search(t) or ZERO_WIDTH_RUN.search(t) for t in titles)
    assert calendar_response.status_code == 200
    assert_strict_rfc5545(calendar_response.content)
    assert "Bad\u200bTitle\u200d end\\, by SigurRós" in calendar_response.content.decode().replace("\r\n ", "")


def test_the_strict_check_refuses_what_the_old_calendar_wrote():
    with pytest.raises(AssertionError):
        assert_strict_rfc5545(b"BEGIN:VCALENDAR\r\nSUMMARY:a\x0bb\r\nEND:VCALENDAR\r\n")


def test_the_atom_feed_has_an_author_its_own_id_and_a_subtitle_from_the_preferences(client, library):
    from musicdrops.catalog import services as catalog_services

    other = User.objects.get(email="other@example.com")
    catalog_services.preferences_update(user=library, kinds={"album", "ep"})
    atom, _ = feed_urls(library)
    theirs, _ = feed_urls(other)
    client.logout()

    root = ET.fromstring(client.get(atom).content)  # noqa: S314 (our own response)
    other_root = ET.fromstring(client.get(theirs).content)  # noqa: S314

    assert root.findtext(f"{ATOM}author/{ATOM}name") == "MusicDrops"  # RFC 4287 4.1.1
    assert root.findtext(f"{ATOM}id") != other_root.findtext(f"{ATOM}id")
    assert (root.findtext(f"{ATOM}id") or "").startswith("urn:uuid:")
    assert root.findtext(f"{ATOM}subtitle") == "Albums and EPs by the artists you follow on MusicDrops."
    # A reset address is the same feed: its id stays.
    services.feed_token_reset(user=library)
    again, _ = feed_urls(library)
    assert ET.fromstring(client.get(again).content).findtext(f"{ATOM}id") == root.findtext(f"{ATOM}id")  # noqa: S314


def test_the_feeds_page_offers_copy_buttons_and_a_webcal_subscription(client, library):
    page = client.get(reverse("feeds:manage")).content.decode()
    _, calendar = feed_urls(library)

    assert page.count("data-copy=") == 2
    assert f'href="webcal://testserver{calendar}"' in page


def test_the_feeds_page_title_is_plain_text(client, library):
    page = client.get(reverse("feeds:manage")).content.decode()

    title = re.search(r"<title>(.*?)</title>", page, re.DOTALL)
    assert title is not None
    assert title.group(1) == "Your feeds · MusicDrops"
