"""The admin's Scheduler page shows its times in the viewer's own time zone."""

import datetime as dt
import zoneinfo

import pytest
from django.conf import settings
from redbeat.schedulers import RedBeatSchedulerEntry

from musicdrops.accounts.models import User
from musicdrops.celery import app
from musicdrops.scheduler import selectors
from tests.integration.browser.test_refresh_now import log_in

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_next_run_is_a_date_and_time_in_the_viewers_zone_and_an_entry_never_run_has_no_last_run(browser, site):
    for name, spec in settings.CELERY_BEAT_SCHEDULE.items():  # as a starting beat writes them
        RedBeatSchedulerEntry(name=name, app=app, **spec).save()
    live = site(worker=False)
    admin = User.objects.create_superuser("root@example.com", "pw-root-12345")
    context = browser.new_context(timezone_id="Asia/Kolkata", locale="en-GB")
    try:
        page = context.new_page()
        log_in(page, live, admin)
        page.goto(live.at("/admin/scheduler/schedulercontrol/"))
        row = page.locator('tr[data-entry="send-music-drops"]')
        cells = row.locator("td")
        next_run = row.locator("time[data-local]").last.inner_text()
        last_run = cells.nth(4).inner_text()
    finally:
        context.close()

    [entry] = [e for e in selectors.entry_statuses() if e.name == "send-music-drops"]
    assert entry.next_run_at is not None
    local = entry.next_run_at.astimezone(zoneinfo.ZoneInfo("Asia/Kolkata"))
    assert local.utcoffset() == dt.timedelta(hours=5, minutes=30)
    assert f"{local:%H:%M:%S}" in next_run, next_run
    assert f"{local.day} {local:%b} {local.year}" in next_run, next_run
    assert next_run.endswith(("(Asia/Kolkata)", "(Asia/Calcutta)")), "the zone named (chromium says its old name)"
    assert last_run == "-", "loaded by a beat, never run: no last run"
