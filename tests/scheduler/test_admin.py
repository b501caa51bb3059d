"""The admin's Scheduler page: the status for staff, and switches that need the change permission and a CSRF token."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from redbeat.schedulers import RedBeatSchedulerEntry

from musicdrops.accounts.models import User
from musicdrops.celery import app
from musicdrops.scheduler import heartbeat, selectors
from musicdrops.scheduler.models import DuplicateDispatch

pytestmark = pytest.mark.django_db

PAGE = "/admin/scheduler/schedulercontrol/"
CONTROL = PAGE + "control/"


@pytest.fixture
def admin_client(client):
    user = User.objects.create_superuser("root@example.com", "pw-root-1234")
    client.force_login(user)
    return client


def csrf_client(user: User) -> tuple[Client, str]:
    """A browser-like client: CSRF enforced, the token taken from the page as a browser would."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    page = browser.get(PAGE)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert token, "the page has no form"
    return browser, token.group(1)


def test_the_page_shows_beats_lock_entries_and_duplicates(admin_client, entries, redis_client):
    beat = heartbeat.BeatInstance.current()
    heartbeat.publish(beat, role="active", lock_token="t")
    redis_client.set("redbeat::lock", "t", px=5000)
    DuplicateDispatch.objects.create(entry="send-music-drops", task_id="x", reason="foreign", origin="9@old-host")

    page = admin_client.get(PAGE).content.decode()

    assert 'data-status="degraded"' in page  # the unacknowledged duplicate
    assert f"held by {beat.name}" in page
    assert beat.commit in page
    for name in entries:
        assert f'data-entry="{name}"' in page
    assert "9@old-host" in page


def test_anonymous_and_non_staff_users_are_sent_to_log_in(client):
    assert client.get(PAGE).status_code == 302
    client.force_login(User.objects.create_user("fan@example.com", "pw-fan-12345"))
    assert client.get(PAGE).status_code == 302
    assert client.post(CONTROL, {"action": "pause"}).status_code == 302
    assert selectors.current_pause() is None


def test_staff_who_may_only_view_see_no_switches_and_cannot_post_them(client):
    staff = User.objects.create_user("viewer@example.com", "pw-view-12345", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_schedulercontrol"))
    client.force_login(staff)

    page = client.get(PAGE)

    assert page.status_code == 200
    assert CONTROL not in page.content.decode()
    assert client.post(CONTROL, {"action": "pause"}).status_code == 403
    assert selectors.current_pause() is None


def test_a_post_without_the_csrf_token_is_refused():
    root = User.objects.create_superuser("root@example.com", "pw-root-1234")
    browser, _ = csrf_client(root)

    assert browser.post(CONTROL, {"action": "pause"}).status_code == 403
    assert selectors.current_pause() is None


def test_switches_pause_resume_disable_enable_and_run_now(entries):
    root = User.objects.create_superuser("root@example.com", "pw-root-1234")
    browser, token = csrf_client(root)

    def post(**data: str) -> str:
        response = browser.post(CONTROL, {"csrfmiddlewaretoken": token, **data}, follow=True)
        assert response.redirect_chain[-1][0] == PAGE
        return response.content.decode()

    assert "Schedule paused" in post(action="pause", reason="deploy v43")
    pause = selectors.current_pause()
    assert pause is not None
    assert (pause.by, pause.reason) == ("root@example.com", "deploy v43")
    post(action="resume")
    assert selectors.current_pause() is None

    post(action="disable", entry="send-music-drops")
    assert {e.name: e.enabled for e in selectors.entry_statuses()}["send-music-drops"] is False
    post(action="enable", entry="send-music-drops")
    assert {e.name: e.enabled for e in selectors.entry_statuses()}["send-music-drops"] is True

    assert "will be dispatched" in post(action="run_now", entry="sync-stale-artists")
    assert [(r.entry, r.by) for r in selectors.run_now_requests()] == [("sync-stale-artists", "root@example.com")]

    assert "No entry" in post(action="run_now", entry="no-such-entry")
    assert "Which entry" in post(action="disable")
    assert browser.get(CONTROL).status_code == 405


def test_acknowledge_all_from_the_page_and_selected_from_the_list(admin_client):
    first, second = (DuplicateDispatch.objects.create(entry="e", task_id=t, reason="same-slot") for t in "ab")
    admin_client.post("/admin/scheduler/duplicatedispatch/", {"action": "acknowledge", "_selected_action": [first.id]})
    assert list(DuplicateDispatch.objects.filter(acknowledged_at__isnull=True)) == [second]

    admin_client.post(CONTROL, {"action": "acknowledge"})

    assert not DuplicateDispatch.objects.filter(acknowledged_at__isnull=True).exists()
    assert DuplicateDispatch.objects.get(id=second.id).acknowledged_by == "root@example.com"


def test_recorded_runs_and_duplicates_cannot_be_edited_or_deleted(admin_client):
    duplicate = DuplicateDispatch.objects.create(entry="e", task_id="a", reason="same-slot")

    assert admin_client.get("/admin/scheduler/duplicatedispatch/").status_code == 200
    assert admin_client.get("/admin/scheduler/scheduledrun/").status_code == 200
    delete = f"/admin/scheduler/duplicatedispatch/{duplicate.id}/delete/"
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert DuplicateDispatch.objects.filter(id=duplicate.id).exists()


def test_last_run_only_after_a_run_and_next_run_to_the_second(admin_client, entries):
    def row(name: str) -> str:
        page = admin_client.get(PAGE).content.decode()
        found = re.search(rf'<tr data-entry="{name}">(.*?)</tr>', page, re.S)
        assert found, name
        return found.group(1)

    cells = re.findall(r"<td>(.*?)</td>", row("send-music-drops"), re.S)
    assert cells[4] == "-", "loaded by a beat but never run: no last run"
    next_run = re.search(r'<time datetime="([^"]+)" data-local>(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC</time>', cells[5])
    assert next_run, cells[5]
    assert next_run.group(2).endswith(":00"), "a crontab's next run is a whole minute, not a moment before it"
    assert cells[6] == "0"

    entry = RedBeatSchedulerEntry.from_key(selectors.entry_key("send-music-drops"), app=app)
    next(entry)  # what the beat does for a run, scheduled or "run now"
    cells = re.findall(r"<td>(.*?)</td>", row("send-music-drops"), re.S)
    assert "data-local" in cells[4]
    assert cells[6] == "1"


def test_run_now_of_the_daily_send_asks_first(entries):
    root = User.objects.create_superuser("root@example.com", "pw-root-1234")
    browser, token = csrf_client(root)

    asked = browser.post(CONTROL, {"csrfmiddlewaretoken": token, "action": "run_now", "entry": "send-music-drops"})

    assert asked.status_code == 200
    assert "Yes, send it now" in asked.content.decode()
    assert selectors.run_now_requests() == []  # nothing requested yet

    done = browser.post(
        CONTROL,
        {"csrfmiddlewaretoken": token, "action": "run_now", "entry": "send-music-drops", "confirm": "yes"},
        follow=True,
    )

    assert "will be dispatched" in done.content.decode()
    assert [r.entry for r in selectors.run_now_requests()] == ["send-music-drops"]
