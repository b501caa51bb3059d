"""Every page at 390 px wide (a phone) fits: no horizontal scrolling, the admin's included."""

import pytest
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog.models import ImportJob
from tests.integration.browser.test_accessibility import VISITOR_PAGES, member, member_pages  # noqa: F401 (fixture)
from tests.integration.browser.test_refresh_now import log_in

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
ADMIN_PAGES = [
    "/admin/",
    "/admin/scheduler/schedulercontrol/",
    "/admin/scheduler/scheduledrun/",
    "/admin/catalog/artist/",
    "/admin/catalog/follow/",
    "/admin/catalog/importjob/",
    "/admin/drops/delivery/",
    "/admin/accounts/user/",
]


def too_wide(page, url: str) -> list[str]:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    width = page.evaluate("document.documentElement.scrollWidth")
    return [] if width <= PHONE["width"] else [f"{url}: {width} px wide"]


def test_every_page_fits_a_phone(browser, site, member):  # noqa: F811 (the fixture)
    live = site(worker=False)
    # A pasted name far longer than a phone is wide, still waiting to be matched.
    ImportJob.objects.create(user=member, source="names", query="x" * 300, outcome={"pending": ["y" * 300]})
    root = User.objects.create_superuser("root@example.com", "pw-root-1234", email_verified_at=timezone.now())
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    found: list[str] = []
    try:
        for path in VISITOR_PAGES:
            found += too_wide(page, live.at(path))
        log_in(page, live, member)
        for path in member_pages(member):
            found += too_wide(page, live.at(path))
        context.clear_cookies()
        log_in(page, live, root)
        for path in ADMIN_PAGES:
            found += too_wide(page, live.at(path))
    finally:
        context.close()

    assert found == [], "\n".join(found)
