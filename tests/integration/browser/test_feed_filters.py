"""The dashboard feed's filters, in a real browser against the real web process: kind, artist, pages, bad URLs."""

import datetime as dt
import re
import uuid

import pytest
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog.models import Artist, Follow, ReleaseGroup, ReleasePreferences
from tests.integration.browser.test_refresh_now import log_in

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OUT_NOW = 'section[aria-labelledby="feed-heading"] li.release'
UPCOMING = 'section[aria-labelledby="upcoming-heading"] li.release'
NOT_ONES = "Those filters are not ones this feed has: showing everything."
# What each followed artist has out (in the last weeks); 40 in all, so the feed has two pages of 25.
OUT = {
    "Aurora Lanes": ["single"] * 20 + ["album"] * 3 + ["live"] * 2,
    "Birch Hollow": ["single"] * 12 + ["album"] * 2 + ["live"],
}
COMING = [("Aurora Lanes", "album", 10), ("Birch Hollow", "single", 20), ("Birch Hollow", "live", 30)]


def release(artist: Artist, title: str, kind: str, date: dt.date) -> None:
    group = ReleaseGroup.objects.create(
        mbid=uuid.uuid4(), title=title, kind=kind, first_release_date=date, date_precision="day"
    )
    group.artists.add(artist)


@pytest.fixture
def feed() -> tuple[User, dict[str, Artist]]:
    """A member following two artists, who also wants live recordings; a stranger following a third."""
    today = timezone.localdate()
    member = User.objects.create_user("fan@example.com", "unused", email_verified_at=timezone.now())
    ReleasePreferences.objects.create(user=member, live=True)
    artists = {name: Artist.objects.create(mbid=uuid.uuid4(), name=name) for name in [*OUT, "Cobalt Sea"]}
    for name in OUT:
        Follow.objects.create(user=member, artist=artists[name])
    stranger = User.objects.create_user("other@example.com", "unused", email_verified_at=timezone.now())
    Follow.objects.create(user=stranger, artist=artists["Cobalt Sea"])
    # Kinds and artists interleaved by date (7 and 40 share no factor: each day once), so a page
    # that lost its filter would show other kinds.
    out = [(name, kind) for name, kinds in OUT.items() for kind in kinds]
    for n, (name, kind) in enumerate(out):
        release(artists[name], f"{name} {kind} {n:02d}", kind, today - dt.timedelta(days=1 + n * 7 % len(out)))
    for name, kind, days in COMING:
        release(artists[name], f"{name} {kind} coming", kind, today + dt.timedelta(days=days))
    release(artists["Cobalt Sea"], "Cobalt Sea album", "album", today - dt.timedelta(days=3))
    # A kind the member does not want: never in the feed.
    release(artists["Aurora Lanes"], "Aurora Lanes compilation", "compilation", today - dt.timedelta(days=2))
    return member, artists


def listed(page, selector: str) -> list[tuple[str, str, str]]:
    """(title, "by ...", kind tag) of each release the section lists."""
    return [
        (item.locator(".title").inner_text(), item.locator(".by").inner_text(), item.locator(".tag").inner_text())
        for item in page.locator(selector).all()
    ]


def show(page, **choices: str) -> None:
    for name, label in choices.items():
        page.select_option(f"form.filters select[name={name}]", label=label)
    page.click("form.filters button:has-text('Show')")
    page.wait_for_load_state()


def assert_whole_feed(page) -> None:
    out, upcoming = listed(page, OUT_NOW), listed(page, UPCOMING)
    assert len(out) == 25
    assert "Page 1 of 2" in page.locator("nav.pagination").inner_text()
    assert {title for title, _, _ in upcoming} == {f"{name} {kind} coming" for name, kind, _ in COMING}
    assert not any("coming" in title for title, _, _ in out)
    assert not any("Cobalt Sea" in by or kind == "Compilation" for _, by, kind in out + upcoming)
    assert {kind for _, _, kind in out} == {"Single", "Album", "Live"}


def test_filters_narrow_the_feed_keep_to_every_page_and_clear(page, site, feed):
    member, _ = feed
    live = site(worker=False)
    log_in(page, live, member)

    # Upcoming apart from out now, soonest first; out now newest first.
    upcoming = [title for title, _, _ in listed(page, UPCOMING)]
    assert upcoming == ["Aurora Lanes album coming", "Birch Hollow single coming", "Birch Hollow live coming"]
    assert page.locator("#upcoming-heading").inner_text() == "Upcoming"
    assert page.locator("#feed-heading").inner_text() == "Out now"
    assert_whole_feed(page)
    dates = page.locator(f"{OUT_NOW} time").evaluate_all("times => times.map(t => t.getAttribute('datetime'))")
    assert dates == sorted(dates, reverse=True)
    assert page.locator(f"{OUT_NOW} time.upcoming").count() == 0
    assert page.locator(f"{UPCOMING} time.upcoming").count() == 3
    assert page.locator("form.filters >> text=Clear").count() == 0  # nothing to clear yet

    show(page, kind="Live recordings")
    assert "kind=live" in page.url
    assert {kind for _, _, kind in listed(page, OUT_NOW)} == {"Live"}
    assert len(listed(page, OUT_NOW)) == 3
    assert [title for title, _, _ in listed(page, UPCOMING)] == ["Birch Hollow live coming"]
    assert page.locator("nav.pagination").count() == 0

    show(page, kind="Every kind", artist="Birch Hollow")
    assert re.search(r"artist=\d+", page.url)
    out = listed(page, OUT_NOW)
    assert len(out) == 15
    assert {by for _, by, _ in out + listed(page, UPCOMING)} == {"by Birch Hollow"}
    upcoming = [title for title, _, _ in listed(page, UPCOMING)]
    assert upcoming == ["Birch Hollow single coming", "Birch Hollow live coming"]

    # 32 singles: the second page keeps the filter, in its links and in the form.
    show(page, kind="Singles", artist="Every artist")
    first = listed(page, OUT_NOW)
    assert len(first) == 25
    assert {kind for _, _, kind in first} == {"Single"}
    assert "Page 1 of 2" in page.locator("nav.pagination").inner_text()
    page.click("nav.pagination a[rel=next]")
    page.wait_for_url(re.compile(r"page=2"))
    assert "kind=single" in page.url
    second = listed(page, OUT_NOW)
    assert len(second) == 7
    assert {kind for _, _, kind in second} == {"Single"}
    assert {by for _, by, _ in first + second} == {"by Aurora Lanes", "by Birch Hollow"}
    assert not {title for title, _, _ in first} & {title for title, _, _ in second}
    assert "Page 2 of 2" in page.locator("nav.pagination").inner_text()
    assert page.locator("select[name=kind]").input_value() == "single"
    assert [title for title, _, _ in listed(page, UPCOMING)] == ["Birch Hollow single coming"]
    page.click("nav.pagination a[rel=prev]")
    page.wait_for_url(re.compile(r"page=1"))
    assert listed(page, OUT_NOW) == first

    page.click("form.filters >> text=Clear")
    page.wait_for_url(re.compile(r"/dashboard/$"))
    assert page.locator("select[name=kind]").input_value() == ""
    assert page.locator("select[name=artist]").input_value() == ""
    assert_whole_feed(page)
    assert page.get_by_text(NOT_ONES).count() == 0


def test_a_hand_made_url_with_filters_the_feed_lacks_shows_everything_and_says_so(page, site, feed):
    member, artists = feed
    live = site(worker=False)
    log_in(page, live, member)

    for query in [
        "kind=bogus",
        "kind=compilation",  # a kind there is, but not one the member wants
        f"artist={artists['Cobalt Sea'].pk}",  # another member's artist
        "artist=not-a-number",
        f"kind=<script>&artist={artists['Cobalt Sea'].pk}",
    ]:
        response = page.goto(live.at(f"/dashboard/?{query}"))
        assert response is not None
        assert response.status == 200, query
        assert page.get_by_role("alert").filter(has_text=NOT_ONES).count() == 1, query
        assert_whole_feed(page)
        assert page.get_by_text("Nothing matches these filters").count() == 0

    # A good filter beside a bad one: the message, and still the whole feed (nothing half-applied).
    page.goto(live.at(f"/dashboard/?kind=single&artist={artists['Cobalt Sea'].pk}"))
    assert page.get_by_text(NOT_ONES).count() == 1
    assert_whole_feed(page)
