"""A watched task a person can leave: an import that says at once that MusicBrainz is down and offers to try again;
"refresh now" that shows its progress again after a reload, and that its owner can cancel."""

import time

import pytest
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog.models import Artist, Follow, ImportJob
from musicdrops.jobs.models import Job
from tests.catalog.upstream import MOTORHEAD, OLAFUR_ARNALDS, RYUICHI_SAKAMOTO, SIGUR_ROS, slow, unavailable
from tests.integration.browser.test_refresh_now import FINISHED, PASSWORD, log_in

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_import_with_musicbrainz_down_says_so_within_a_minute_and_offers_to_try_again(page, site, upstream_server):
    fan = User.objects.create_user("fan@example.com", PASSWORD, email_verified_at=timezone.now())
    upstream_server.always("search", unavailable())
    live = site(worker=False, regular=True)
    log_in(page, live, fan)

    page.goto(live.at("/library/import/"))
    page.fill("textarea[name=names]", "Sigur Rós\nMotörhead")
    started = time.monotonic()
    page.locator("section", has_text="From a list").locator("button[type=submit]").click()
    status = page.wait_for_selector(FINISHED.format("FAILURE"), timeout=60_000)

    assert time.monotonic() - started < 60
    assert "MusicBrainz isn't answering right now" in status.inner_text()
    assert ImportJob.objects.get().status == "failed"  # not retrying behind the page's back
    retry = page.get_by_test_id("import-retry")
    assert retry.inner_text() == "Try these 2 names again"

    upstream_server.always("search", None)
    retry.click()
    page.wait_for_selector(FINISHED.format("SUCCESS"), timeout=60_000)
    assert set(Follow.objects.filter(user=fan).values_list("artist__name", flat=True)) == {"Sigur Rós", "Motörhead"}


def test_refresh_now_shows_its_progress_again_after_a_reload_and_its_owner_can_cancel_it(page, site, upstream_server):
    fan = User.objects.create_user("fan@example.com", PASSWORD, email_verified_at=timezone.now())
    for n, mbid in enumerate((SIGUR_ROS, OLAFUR_ARNALDS, RYUICHI_SAKAMOTO, MOTORHEAD)):
        Follow.objects.create(user=fan, artist=Artist.objects.create(mbid=mbid, name=f"Artist {n}"))
        upstream_server.always(mbid, slow(1.5))  # a few seconds an artist: time to reload, and to cancel
    live = site()
    log_in(page, live, fan)

    page.click('[data-testid="refresh-library"]')
    page.wait_for_selector('[data-testid="task-status"][data-state="PROGRESS"]', timeout=30_000)
    page.reload()

    status = page.locator('[data-testid="task-status"]')
    assert status.is_visible()
    page.wait_for_function("document.querySelector('[data-testid=task-status] [data-role=message]').textContent"
                           ".startsWith('Checked')")  # fmt: skip
    page.get_by_test_id("cancel-task").click()

    page.wait_for_selector(FINISHED.format("REVOKED"), timeout=10_000)
    assert status.inner_text().startswith("Cancelled after")
    assert not page.get_by_test_id("cancel-task").is_visible()
    job = Job.objects.get()
    assert job.state == Job.State.REVOKED
    time.sleep(4)  # the worker stops before its next artist: no artist is fetched after the cancel
    checked = Job.objects.get().figures
    assert checked["checked"] + checked["failed"] < 4
