"""What a newcomer meets first (issue 29), in a real browser: titles, words, the email on a phone, settings, imports."""

import re

import pytest
from django.conf import settings
from django.utils import timezone
from redbeat.schedulers import RedBeatSchedulerEntry

from musicdrops.accounts.models import User
from musicdrops.catalog.models import Artist, Follow, ReleaseGroup
from musicdrops.celery import app
from tests.catalog.upstream import SIGUR_ROS
from tests.integration.browser.test_refresh_now import FINISHED, PASSWORD, log_in

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
SESSION_ENDED = "You were logged out, so that change was not saved. Log in and make it again."
DELIVERY_FORM = "form[action='/accounts/settings/delivery/']"


def fan(*, digest: str = "daily", follows: bool = False) -> User:
    user = User.objects.create_user("fan@example.com", PASSWORD, email_verified_at=timezone.now(), digest=digest)
    if follows:
        artist = Artist.objects.create(mbid=SIGUR_ROS, name="Sigur Rós", synced_at=timezone.now())
        Follow.objects.create(user=user, artist=artist)
        for n in range(10):  # enough to make the email taller than a phone
            release = ReleaseGroup.objects.create(
                mbid=f"40000000-0000-4000-8000-{n:012d}", title=f"Takk {n}", kind="album", primary_type="Album",
                first_release_date=timezone.localdate(), date_precision="day",
            )  # fmt: skip
            release.artists.add(artist)
    return user


def test_the_feeds_tab_has_a_plain_title_and_a_weekly_reader_is_told_weekly(page, site):
    live = site(worker=False)
    log_in(page, live, fan(digest="weekly"))

    page.goto(live.at("/feeds/"))

    assert page.title() == "Your feeds · MusicDrops"
    assert page.locator("nav").get_by_role("link", name="This week's email").count() == 1
    assert "Today's email" not in page.inner_text("nav")
    assert page.inner_text("footer").endswith("once a week.")
    page.goto(live.at("/accounts/settings/"))
    assert page.get_by_label("Send me the weekly email").count() == 1


def test_a_visitor_reads_both_cadences_and_the_four_cards_sit_two_by_two(page, site):
    live = site(worker=False)

    page.goto(live.at("/"))

    assert "once a day or once a week, at the hour you pick" in page.inner_text(".hero")
    assert "once a day or once a week, at the hour you pick" in page.inner_text("footer")
    tops = page.eval_on_selector_all(".features > div", "cards => cards.map(c => c.getBoundingClientRect().top)")
    assert len(tops) == 4
    assert tops[0] == tops[1] < tops[2] == tops[3]
    page.set_viewport_size(PHONE)
    tops = page.eval_on_selector_all(".features > div", "cards => cards.map(c => c.getBoundingClientRect().top)")
    assert tops == sorted(set(tops))  # one card a row


def test_on_a_phone_the_email_preview_shows_the_whole_email(browser, site):
    live = site(worker=False)
    user = fan(follows=True)
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        log_in(page, live, user)
        page.goto(live.at("/drops/today/"))
        page.wait_for_load_state("networkidle")
        frame = page.frame_locator(".email-preview iframe")
        see_all = frame.get_by_role("link", name="See all your releases").bounding_box()
        unsubscribe = frame.get_by_role("link", name="Unsubscribe").bounding_box()
        box = page.locator(".email-preview iframe").bounding_box()
        page_width = page.evaluate("document.documentElement.scrollWidth")
    finally:
        context.close()

    assert see_all is not None
    assert unsubscribe is not None
    assert box is not None
    # Both inside the frame's box, which is on the page: no scroll area of its own hides them.
    for link in (see_all, unsubscribe):
        assert box["y"] <= link["y"]
        assert link["y"] + link["height"] <= box["y"] + box["height"], (link, box)
    assert page_width <= PHONE["width"]


def test_delivery_settings_look_like_the_other_fields_and_offer_the_weekday_only_for_weekly(page, site):
    live = site(worker=False)
    log_in(page, live, fan())
    page.goto(live.at("/accounts/settings/"))

    email = page.locator("input[name=email]").bounding_box()
    zone = page.locator("select[name=time_zone]").bounding_box()
    assert email is not None
    assert zone is not None
    assert abs(zone["height"] - email["height"]) <= 2
    assert abs(zone["width"] - email["width"]) <= 2
    groups = page.eval_on_selector_all("select[name=time_zone] optgroup", "gs => gs.map(g => g.label)")
    assert {"Africa", "America", "Asia", "Europe", "Pacific"} <= set(groups)
    names = page.eval_on_selector_all("select[name=time_zone] option", "os => os.map(o => o.value)")
    assert "Europe/Paris" in names
    assert "America/Atka" not in names
    assert "US/Pacific" not in names
    assert len(names) < 450

    weekday = page.locator("select[name=digest_weekday]")
    assert page.get_by_label("every day").is_checked()
    assert not weekday.is_visible()
    page.get_by_label("once a week").check()
    assert weekday.is_visible()


def test_a_hand_edited_zone_keeps_the_saved_one_selected_and_its_address_answers_a_reload(page, site):
    live = site(worker=False)
    User.objects.filter(pk=fan().pk).update(time_zone="Asia/Kathmandu")
    log_in(page, live, User.objects.get())
    page.goto(live.at("/accounts/settings/"))

    page.eval_on_selector(
        "select[name=time_zone]", "s => { s.add(new Option('Not/AZone', 'Not/AZone')); s.value = 'Not/AZone'; }"
    )
    page.locator(DELIVERY_FORM).get_by_role("button", name="Save").click()
    page.wait_for_load_state()

    assert page.get_by_text("Pick your time zone from the list.").is_visible()
    assert page.input_value("select[name=time_zone]") == "Asia/Kathmandu"
    assert page.evaluate("document.activeElement.name") == "time_zone"
    response = page.goto(page.url)  # what a reload of that address, or a bookmark of it, gets
    assert response is not None
    assert response.ok
    assert page.title() == "Settings · MusicDrops"


def test_a_failed_listenbrainz_import_says_only_that_in_its_colour_and_keeps_the_name(page, site):
    live = site(worker=False, regular=True)
    log_in(page, live, fan())

    page.goto(live.at("/library/import/"))
    page.fill("input[name=username]", "nobody-here")
    page.locator("#from-listenbrainz").get_by_role("button", name="Import").click()
    page.wait_for_selector(FINISHED.format("FAILURE"), timeout=30_000)
    page.wait_for_selector(".tag.state-failed")

    assert page.get_by_text("Import started").count() == 0
    assert page.input_value("input[name=username]") == "nobody-here"
    colour = page.eval_on_selector(".tag.state-failed", "t => getComputedStyle(t).color")
    bad = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--bad').trim()")
    assert colour == "rgb(179, 38, 30)" == {"#b3261e": "rgb(179, 38, 30)"}[bad]


def test_after_a_mistake_the_field_to_fix_has_the_focus(page, site):
    live = site(worker=False)

    page.goto(live.at("/accounts/signup/"))
    page.fill("input[name=email]", "new.fan@example.com")
    page.fill("input[name=password]", "short")
    page.click("main button[type=submit]")
    page.wait_for_selector(".has-error")

    assert page.evaluate("document.activeElement.name") == "password"


def test_a_change_saved_after_logging_out_in_another_tab_asks_to_log_in_again(page, site):
    live = site(worker=False)
    log_in(page, live, fan())
    second = page.context.new_page()
    second.goto(live.at("/accounts/settings/"))
    page.get_by_role("button", name="Log out").click()
    page.wait_for_load_state()

    second.select_option("select[name=delivery_hour]", "6")
    second.locator(DELIVERY_FORM).get_by_role("button", name="Save").click()
    second.wait_for_load_state()

    assert second.get_by_text(SESSION_ENDED).is_visible()
    assert re.search(r"/accounts/login/\?next=/accounts/settings/$", second.url), second.url
    assert User.objects.get().delivery_hour == 8


def test_following_nobody_offers_search_a_pasted_list_and_listenbrainz(page, site):
    live = site(worker=False)
    log_in(page, live, fan())

    page.get_by_role("link", name="Paste a list of names").click()

    assert page.url.endswith("/library/import/#from-a-list")
    page.go_back()
    assert page.get_by_role("link", name="Search for artists").count() == 1
    assert page.get_by_role("link", name="Import from ListenBrainz").count() == 1


def mid_word_breaks(page) -> list[str]:
    """Every line break inside a cell of the scheduler's tables that falls between two letters, digits or underscores.

    A break after a space, a dot (where the page puts a <wbr> in a task's dotted name) or a hyphen is fine.
    """
    broken: list[str] = page.evaluate(
        """() => Array.from(document.querySelectorAll('#content-main td')).flatMap((td) => {
          const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
          const chars = [];  // every character of the cell in order, with the top of its box (null: not drawn)
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (let i = 0; i < node.data.length; i++) {
              const range = document.createRange();
              range.setStart(node, i);
              range.setEnd(node, i + 1);
              const rect = Array.from(range.getClientRects()).find((r) => r.width > 0);
              chars.push({ c: node.data[i], top: rect ? Math.round(rect.top) : null });
            }
          }
          const word = /[\\p{L}\\p{N}_]/u;
          const breaks = [];
          let lastTop = null;
          chars.forEach(({ c, top }, i) => {
            if (top === null) return;
            if (lastTop !== null && top > lastTop && i > 0 && word.test(chars[i - 1].c) && word.test(c)) {
              const text = chars.map((x) => x.c).join('');
              breaks.push(`${text.slice(0, i)}/${text.slice(i)}`);
            }
            lastTop = top;
          });
          return breaks;
        })"""
    )
    return broken


def tables_scrolling(page) -> list[str]:
    """The heading of every scheduler table whose box scrolls sideways (its content wider than the box shows)."""
    scrolling: list[str] = page.evaluate(
        """() => Array.from(document.querySelectorAll('#content-main .scroll-x'))
          .filter((box) => box.scrollWidth > box.clientWidth)
          .map((box) => box.closest('.module').querySelector('h2').innerText
            + `: ${box.scrollWidth} > ${box.clientWidth}`)"""
    )
    return scrolling


@pytest.mark.parametrize("width", [1280, 390])
def test_the_scheduler_page_breaks_no_word_fits_a_phone_and_says_its_cron_is_utc(browser, site, width):
    for name, spec in settings.CELERY_BEAT_SCHEDULE.items():  # as a starting beat writes them
        RedBeatSchedulerEntry(name=name, app=app, **spec).save()
    live = site(worker=False)
    admin = User.objects.create_superuser("root@example.com", "pw-root-12345")
    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="Asia/Kolkata")
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        log_in(page, live, admin)
        page.goto(live.at("/admin/scheduler/schedulercontrol/"))
        broken = mid_word_breaks(page)
        page_width = page.evaluate("document.documentElement.scrollWidth")
        overflowing = tables_scrolling(page)
        header = page.locator("#content-main thead th", has_text="Schedule").text_content()
        schedule = page.locator('tr[data-entry="send-music-drops"] td').nth(2).inner_text()
    finally:
        context.close()

    assert broken == []
    assert page_width <= width
    if width >= 1280:  # a laptop sees every table whole; on a phone a wide one scrolls inside its box
        assert overflowing == [], overflowing
    assert header == "Schedule (UTC)"
    assert schedule.startswith("cron ")
