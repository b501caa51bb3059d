"""Imports from Last.fm and Deezer in a real browser, against the real web process and regular-queue worker."""

from collections.abc import Iterator

import pytest
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog.models import Follow
from tests.catalog import upstream as up
from tests.catalog.import_sources import API_KEY, SourcesServer, lastfm_artist, lastfm_error
from tests.integration.browser.test_refresh_now import FINISHED, PASSWORD, log_in

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def upstream_server() -> Iterator[SourcesServer]:
    """The replay server with Last.fm and Deezer too (the site fixture points MusicBrainz at it)."""
    server = SourcesServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_lastfm_import_shows_its_progress_then_what_it_could_not_match_and_a_private_deezer_profile_says_so(
    page, site, upstream_server
):
    upstream_server.lastfm_users["rj"] = [
        lastfm_artist("Sigur Rós", 900, mbid=up.SIGUR_ROS),
        lastfm_artist("Motörhead", 800),
        lastfm_artist("Some Bandcamp Act", 700),
    ]
    upstream_server.script("/lastfm", lastfm_error(29, "Rate Limit Exceeded"))  # retried behind the progress
    upstream_server.deezer_profiles["7"] = None
    fan = User.objects.create_user("fan@example.com", PASSWORD, email_verified_at=timezone.now())
    live = site(
        worker=False,
        regular=True,
        LASTFM_URL=upstream_server.lastfm_url,
        LASTFM_API_KEY=API_KEY,
        DEEZER_URL=upstream_server.deezer_url,
    )
    log_in(page, live, fan)

    page.goto(live.at("/library/import/"))
    section = page.locator("#from-lastfm")
    section.locator("input[name='lastfm-username']").fill("rj")
    section.locator("select[name='lastfm-period']").select_option("1month")
    section.locator("input[name='lastfm-min_listens']").fill("100")
    section.get_by_role("button", name="Import").click()
    status = page.wait_for_selector(FINISHED.format("SUCCESS"), timeout=60_000)

    assert "All done: 3 artists matched: 2 followed, 1 not found." in status.inner_text()
    page.wait_for_selector('[data-testid="import-not-found"]')
    assert page.get_by_test_id("import-not-found").inner_text() == "Not found on MusicBrainz: Some Bandcamp Act"
    assert set(Follow.objects.filter(user=fan).values_list("artist__name", flat=True)) == {"Sigur Rós", "Motörhead"}

    page.locator("#from-deezer input[name='deezer-profile']").fill("https://www.deezer.com/en/profile/7")
    page.locator("#from-deezer").get_by_role("button", name="Import").click()
    status = page.wait_for_selector(FINISHED.format("FAILURE"), timeout=60_000)

    assert "Deezer shows no favourite artists for profile 7" in status.inner_text()
    assert page.input_value("#from-deezer input[name='deezer-profile']") == "7"
