"""Every page passes axe-core (WCAG 2.2 A and AA rules) in chromium, in light and dark mode."""

import json

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.test import Client
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog.models import Artist, Follow, ImportJob, ReleaseGroup
from musicdrops.drops.emails import unsubscribe_token
from musicdrops.jobs.models import Job
from tests.catalog.upstream import SIGUR_ROS
from tests.integration.browser.test_refresh_now import log_in

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}}

VISITOR_PAGES = [
    "/",
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password/reset/",
    "/accounts/verify/bad-token/",
]


def member_pages(user: User) -> list[str]:
    job = Job.objects.create(user=user, kind=Job.Kind.REFRESH_LIBRARY)
    return [
        "/dashboard/",
        "/library/",
        "/library/?q=Sigur",
        "/library/import/",
        "/library/preferences/",
        "/drops/today/",
        "/feeds/",
        "/accounts/settings/",
        "/accounts/password/change/",
        f"/jobs/{job.id}/",
        f"/artists/{SIGUR_ROS}/",
        "/releases/40000000-0000-4000-8000-000000000000/",
    ]


@pytest.fixture
def member() -> User:
    user = User.objects.create_user("fan@example.com", "a-long-enough-password", email_verified_at=timezone.now())
    artist = Artist.objects.create(mbid=SIGUR_ROS, name="Sigur Rós", synced_at=timezone.now())
    Follow.objects.create(user=user, artist=artist)
    for n, (title, kind) in enumerate([("Takk…", "album"), ("Hoppípolla", "single"), ("Live at the Hall", "live")]):
        release = ReleaseGroup.objects.create(
            mbid=f"40000000-0000-4000-8000-{n:012d}", title=title, kind=kind, primary_type="Album",
            first_release_date=timezone.localdate(), date_precision="day",
        )  # fmt: skip
        release.artists.add(artist)
    # A finished import with names to choose (one form of radio groups), one pasted name far longer than a phone.
    nirvana = {"name": "Nirvana", "sort_name": "Nirvana", "artist_type": "Group", "country": "US", "begin": "1987"}
    ImportJob.objects.create(
        user=user, source="names", query="Nirvana\nGenesis", status="done", finished_at=timezone.now(),
        outcome={"total": 3, "followed": ["Sigur Rós"], "not_found": ["z" * 300], "ambiguous": [
            {"name": "Nirvana", "candidates": [
                {**nirvana, "mbid": "50000000-0000-4000-8000-000000000001", "disambiguation": "90s US grunge band",
                 "area": "United States", "end": "1994"},
                {**nirvana, "mbid": "50000000-0000-4000-8000-000000000002", "disambiguation": "60s UK band"},
            ]},
            {"name": "g" * 300, "candidates": [  # stored before candidates kept their type, country and years
                {"mbid": "50000000-0000-4000-8000-000000000003", "name": "g" * 300, "disambiguation": ""},
            ]},
        ]},
    )  # fmt: skip
    return user


def violations_on(page, url: str) -> list[str]:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    results = Axe().run(page, options=AXE_OPTIONS)
    return [
        f"{url}: {v['id']} ({v['impact']}): {v['help']} at {json.dumps([n['target'] for n in v['nodes']][:3])}"
        for v in results.response["violations"]
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_passes_axe(browser, site, member, scheme):
    live = site(worker=False)
    context = browser.new_context(color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(20_000)
    found: list[str] = []
    try:
        for path in VISITOR_PAGES:
            found += violations_on(page, live.at(path))
        # The unsubscribe page (which submits itself) and the page it lands on.
        found += violations_on(page, live.at(f"/drops/unsubscribe/{unsubscribe_token(member.pk)}/"))
        User.objects.filter(pk=member.pk).update(receives_drops=True)

        log_in(page, live, member)
        for path in member_pages(member):
            found += violations_on(page, live.at(path))
    finally:
        context.close()
    # The email itself. Its policy (a sandbox with no scripts) would stop axe too: bypassed for the check only.
    context = browser.new_context(color_scheme=scheme, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        log_in(page, live, member)
        found += violations_on(page, live.at("/drops/today/email/"))
    finally:
        context.close()

    assert found == [], "\n".join(found)


def test_the_session_cookie_helper_logs_in_as_the_member(member):
    # log_in() relies on sessions made by the test client being valid for the web process.
    client = Client()
    client.force_login(member)
    assert client.get("/dashboard/").status_code == 200
