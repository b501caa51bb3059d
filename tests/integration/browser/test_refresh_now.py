"""Refresh now, in a real browser against the real web process and important-queue worker."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from django.conf import settings
from django.test import Client
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog.models import Artist, Follow, ReleaseGroup
from musicdrops.jobs.models import Job
from tests.catalog.upstream import SIGUR_ROS, slow, unavailable
from tests.integration.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-enough-password-for-tests"
FINISHED = '[data-testid="task-status"][data-state="{}"]'


def log_in(page, site, user: User) -> None:
    """Log the browser in as ``user`` with a session made here (the web process shares the database)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": site.url}])
    page.goto(site.at("/dashboard/"))


def fan_following(mbid: str, name: str) -> User:
    user = User.objects.create_user("fan@example.com", PASSWORD, email_verified_at=timezone.now())
    Follow.objects.create(user=user, artist=Artist.objects.create(mbid=mbid, name=name))
    return user


def test_sign_up_follow_refresh_now_ends_in_success(page, site):
    live = site()
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if "/status/" in request.url else None)
    # The first two polls die on the way: a dropped connection must not end the watch.
    dropped: list[str] = []

    def flaky(route) -> None:
        if len(dropped) < 2:
            dropped.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(re.compile(r"/jobs/[^/]+/status/"), flaky)

    page.goto(live.at("/"))
    page.click("text=Start following artists")
    page.fill("input[name=email]", "new.fan@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/accounts/signup/sent/$"))  # the same answer whether or not the address is taken
    # The verification email, printed by the important worker; its link confirms the address.
    worker = live.worker
    assert worker is not None
    link = re.compile(re.escape(live.url) + r"/accounts/verify/[^/\s]+/")
    wait_until(lambda: link.search(worker.output()), 30, "the verification email", worker)
    found = link.search(worker.output())
    assert found is not None
    page.goto(found.group(0))
    page.wait_for_selector("text=is confirmed")
    page.goto(live.at("/accounts/login/"))
    page.fill("input[name=username]", "new.fan@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/dashboard/$"))

    # The follow's own sync is still fetching when "refresh now" starts: its browse answers 4 s late.
    live.upstream.script("/ws/2/release-group", slow(4))
    page.click("nav >> text=Artists")
    page.fill("input[name=q]", "Sigur")
    page.click("main form[role=search] button")
    page.click("text=Follow Sigur Rós")
    page.wait_for_selector("text=You follow Sigur Rós")

    page.click("nav >> text=Releases")
    page.click('[data-testid="refresh-library"]')
    status = page.wait_for_selector(FINISHED.format("SUCCESS"), timeout=60_000)

    assert "All done" in status.inner_text()
    assert len(dropped) == 2
    assert len(polls) >= 3
    nonces = [parse_qs(urlsplit(url).query).get("nonce", [""])[0] for url in polls]
    assert all(len(nonce) >= 16 for nonce in nonces)
    assert len(set(polls)) == len(polls)  # no poll URL ever repeats: no cache can match one
    assert ReleaseGroup.objects.filter(artists__mbid=SIGUR_ROS).count() == 4
    # What the page showed is the job's row; nothing of the task's is kept in Redis.
    job = Job.objects.get()
    assert (job.state, job.figures["total"]) == (Job.State.SUCCESS, 1)
    assert not redis.Redis.from_url(settings.REDIS_URL).exists(f"celery-task-meta-{job.id}")


def test_musicbrainz_down_ends_in_failure_with_the_reason(page, site, upstream_server):
    fan = fan_following(SIGUR_ROS, "Sigur Rós")
    upstream_server.always(SIGUR_ROS, unavailable())
    live = site()
    log_in(page, live, fan)

    page.click('[data-testid="refresh-library"]')
    status = page.wait_for_selector(FINISHED.format("FAILURE"), timeout=60_000)

    assert "MusicBrainz is not answering" in status.inner_text()


def test_no_worker_ends_in_a_timeout_with_a_clear_message(page, site):
    fan = fan_following(SIGUR_ROS, "Sigur Rós")
    live = site(worker=False, TASK_POLL_TIMEOUT_SECONDS="4")
    log_in(page, live, fan)

    page.click('[data-testid="refresh-library"]')
    status = page.wait_for_selector(FINISHED.format("TIMEOUT"), timeout=30_000)

    assert "taking longer than it should" in status.inner_text()


def test_without_javascript_the_button_still_works(browser, site):
    fan = fan_following(SIGUR_ROS, "Sigur Rós")
    live = site()
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, live, fan)

        page.click('[data-testid="refresh-library"]')
        page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]+/$"))
        # The page reloads itself (a <noscript> refresh) until the job is over.
        page.wait_for_selector(FINISHED.format("SUCCESS"), timeout=60_000)
    finally:
        context.close()
