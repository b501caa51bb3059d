"""The artist and release pages in chromium, with covers from a local archive, a missing one and a stalled one."""

import datetime as dt
import socket
import time
from collections.abc import Iterator

import pytest
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog.models import Artist, Follow, ReleaseGroup
from tests.catalog.upstream import SIGUR_ROS, fixture_mbid, png
from tests.integration.browser.test_refresh_now import log_in

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WITH_COVER = fixture_mbid("release-group", "Takk…")
WITHOUT_COVER = fixture_mbid("release-group", "( )")
UPCOMING = fixture_mbid("release-group", "Odin's Raven Magic")


@pytest.fixture
def fan() -> User:
    user = User.objects.create_user("fan@example.com", "a-long-enough-password", email_verified_at=timezone.now())
    sigur = Artist.objects.create(
        mbid=SIGUR_ROS, name="Sigur Rós", disambiguation="Icelandic post-rock band", artist_type="Group",
        country="IS", area="Iceland", begin="1994", synced_at=timezone.now(),
    )  # fmt: skip
    Follow.objects.create(user=user, artist=sigur)
    today = timezone.localdate()
    for mbid, title, days in [
        (WITH_COVER, "Takk…", -3),
        (WITHOUT_COVER, "( )", -400),
        (UPCOMING, "Odin's Raven Magic", 12),
    ]:
        release = ReleaseGroup.objects.create(
            mbid=mbid, title=title, kind="album", primary_type="Album",
            first_release_date=today + dt.timedelta(days=days), date_precision="day",
        )  # fmt: skip
        release.artists.add(sigur)
    return user


def csp_violations(page) -> list[str]:
    found: list[str] = []
    page.on("console", lambda m: found.append(m.text) if "Content Security Policy" in m.text else None)
    return found


def covers(page) -> dict[str, dict[str, object]]:
    """Per release title on the page: whether its image is there, loaded, and its placeholder's initial."""
    shown: dict[str, dict[str, object]] = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('li.release')].map((item) => {
            const image = item.querySelector('img.cover-art');
            return [item.querySelector('.title').textContent.trim(), {
                image: Boolean(image),
                loaded: Boolean(image && image.complete && image.naturalWidth > 0),
                initial: item.querySelector('.cover .initial').textContent,
            }];
        }))"""
    )
    return shown


def test_from_the_feed_to_the_artist_and_back_with_covers_and_placeholders(page, site, upstream_server, fan):
    upstream_server.covers[WITH_COVER] = png()
    live = site(worker=False, COVER_ART_URL=upstream_server.cover_art_url)
    violations = csp_violations(page)
    log_in(page, live, fan)

    # The feed's artist name leads to the artist's page.
    page.get_by_role("link", name="Sigur Rós").first.click()
    page.wait_for_url(f"**/artists/{SIGUR_ROS}/")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").text_content() == "Sigur Rós"
    facts = page.get_by_test_id("artist-facts").text_content()
    for fact in ("Icelandic post-rock band", "Group", "Iceland", "since 1994"):
        assert fact in facts
    upcoming = page.locator("section[aria-labelledby=upcoming-heading] .title").all_text_contents()
    released = page.locator("section[aria-labelledby=released-heading] .title").all_text_contents()
    assert (upcoming, released) == (["Odin's Raven Magic"], ["Takk…", "( )"])

    # The archive's image where it has one (through its redirect); the placeholder where it answers 404.
    page.wait_for_function("() => [...document.images].every((image) => image.complete)")
    shown = covers(page)
    assert shown["Takk…"] == {"image": True, "loaded": True, "initial": "T"}
    assert shown["( )"] == {"image": False, "loaded": False, "initial": "♪"}
    assert shown["Odin's Raven Magic"]["image"] is False

    # Unfollow and follow again from the page itself.
    page.get_by_test_id("unfollow").click()
    page.wait_for_url(f"**/artists/{SIGUR_ROS}/")
    assert "Unfollowed Sigur Rós (Icelandic post-rock band)." in page.locator(".messages").text_content()
    assert not Follow.objects.filter(user=fan).exists()
    page.get_by_test_id("follow").click()
    page.wait_for_url(f"**/artists/{SIGUR_ROS}/")
    assert "You follow Sigur Rós." in page.locator(".messages").text_content()
    assert Follow.objects.filter(user=fan, artist__mbid=SIGUR_ROS).exists()

    # A title leads to the release's page, its large cover loaded from the archive.
    page.get_by_role("link", name="Takk…").click()
    page.wait_for_url(f"**/releases/{WITH_COVER}/")
    page.wait_for_function("() => document.querySelector('img.cover-art')?.naturalWidth > 0")
    assert page.locator("h1").text_content() == "Takk…"
    page.get_by_role("link", name="Sigur Rós").click()
    page.wait_for_url(f"**/artists/{SIGUR_ROS}/")

    assert violations == []


@pytest.fixture
def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: connections to it are refused


@pytest.fixture
def stalled_archive() -> Iterator[str]:
    """An archive that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize("archive", ["refused", "stalled"])
def test_an_unreachable_archive_blocks_nothing_and_leaves_tidy_placeholders(
    page, site, fan, refused_port, stalled_archive, archive
):
    url = f"http://127.0.0.1:{refused_port}" if archive == "refused" else stalled_archive
    live = site(worker=False, COVER_ART_URL=url)
    log_in(page, live, fan)

    for path in ["/dashboard/", f"/artists/{SIGUR_ROS}/", f"/releases/{WITH_COVER}/"]:
        started = time.monotonic()
        page.goto(live.at(path), wait_until="domcontentloaded")
        assert time.monotonic() - started < 5, f"{path} waited for the archive"
        placeholder = page.locator(".cover .initial").first
        assert placeholder.is_visible()
        box = page.locator(".cover").first.bounding_box()
        assert box is not None
        assert min(box["width"], box["height"]) >= 48
        if archive == "refused":  # failed images are taken away: no broken-image icon
            page.wait_for_function("() => document.querySelectorAll('img.cover-art').length === 0")
