"""Moving an account to a new address, in a real browser: the web process, the important worker, real SMTP."""

import re
import time
from email.message import EmailMessage

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils import timezone

from musicdrops.accounts.models import User
from tests.integration.browser.test_refresh_now import log_in
from tests.integration.conftest import SmtpSink
from tests.integration.processes import Process

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-enough-password-for-tests"
OLD, NEW = "old.address@example.com", "new.address@example.com"
ACCOUNT_FORM = "form:has(input[name=current_password])"
NEEDS_PASSWORD = "Enter your current password to change your address."
WRONG_PASSWORD = "That is not your current password."


def member() -> User:
    # Hashed as the web process hashes (the test run's fast MD5 hasher is unknown there, so its
    # check_password would refuse every password, the right one too).
    hasher = PBKDF2PasswordHasher()
    return User.objects.create(
        email=OLD, password=hasher.encode(PASSWORD, hasher.salt()), email_verified_at=timezone.now()
    )


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def to(sink: SmtpSink, address: str) -> list[EmailMessage]:
    return [m for m in sink.messages if str(m["To"]) == address]


def received(worker: Process, task: str) -> int:
    """How many of ``task`` the worker ran, by its log: one line as each ends (Celery's "received" is at DEBUG)."""
    ended = re.escape(task) + r"\[[^\]]+\] (succeeded|raised|retry)"
    deadline = time.monotonic() + 5  # the line follows the email it sent by a moment
    while not re.search(ended, worker.output()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return len(re.findall(ended, worker.output()))


def ask_to_move(page, *, password: str | None) -> None:
    page.fill(f"{ACCOUNT_FORM} input[name=email]", NEW)
    if password is not None:
        page.fill(f"{ACCOUNT_FORM} input[name=current_password]", password)
    page.click(f"{ACCOUNT_FORM} button[type=submit]")
    page.wait_for_load_state()


def ask_for_a_reset(page, site, address: str) -> None:
    page.goto(site.at("/accounts/password/reset/"))
    page.fill("main input[name=email]", address)
    page.click("main button:has-text('Send the link')")
    page.wait_for_selector("h1:has-text('Check your inbox')")


def test_a_move_takes_the_password_and_the_new_address_s_link_then_resets_go_there(page, site, smtp_server):
    user = member()
    live = site(EMAIL_URL=smtp_server.url)
    worker = live.worker
    assert worker is not None
    log_in(page, live, user)
    page.goto(live.at("/accounts/settings/"))
    assert page.input_value(f"{ACCOUNT_FORM} input[name=email]") == OLD

    # Without the password, and with a wrong one: refused, said beside the field, nothing sent.
    for password, message in [(None, NEEDS_PASSWORD), ("not-my-password", WRONG_PASSWORD)]:
        ask_to_move(page, password=password)
        assert page.locator(f"{ACCOUNT_FORM} [role=alert]").filter(has_text=message).count() == 1
        assert page.get_by_text("follow the link we sent there").count() == 0
        assert page.input_value(f"{ACCOUNT_FORM} input[name=email]") == NEW  # what they typed stays
        user.refresh_from_db()
        assert user.email == OLD

    ask_to_move(page, password=PASSWORD)
    page.wait_for_url(re.compile(r"/accounts/settings/$"))
    assert page.get_by_role("status").filter(has_text=f"To move your account to {NEW}, follow the link").count() == 1
    # Nothing has moved yet: the page and the account still have the old address.
    assert page.input_value(f"{ACCOUNT_FORM} input[name=email]") == OLD
    user.refresh_from_db()
    assert user.email == OLD

    smtp_server.wait_for(2)
    [notice], [confirm] = to(smtp_server, OLD), to(smtp_server, NEW)
    assert len(smtp_server.messages) == 2  # the refused attempts sent nothing
    notice_text, confirm_text = text_of(notice), text_of(confirm)
    assert NEW in notice_text
    assert OLD in notice_text
    assert "/accounts/verify/" not in notice_text + notice.as_string()  # the old address gets no link to move with
    assert confirm["Subject"] == "Confirm your new email address"
    links = re.findall(re.escape(live.url) + r"/accounts/verify/[^/\s]+/", confirm_text)
    assert len(set(links)) == 1

    page.goto(links[0])
    page.wait_for_url(re.compile(r"/dashboard/$"))
    assert page.get_by_role("status").filter(has_text=f"{NEW} is confirmed").count() == 1
    user.refresh_from_db()
    assert user.email == NEW
    assert user.email_verified_at is not None
    page.goto(live.at("/accounts/settings/"))
    assert page.input_value(f"{ACCOUNT_FORM} input[name=email]") == NEW

    # Logged out, a reset asked for each address: only the account's new one gets a link.
    page.context.clear_cookies()
    ask_for_a_reset(page, live, OLD)
    ask_for_a_reset(page, live, NEW)
    smtp_server.wait_for(3)
    [reset] = [m for m in to(smtp_server, NEW) if m is not confirm]
    assert reset["Subject"] == "Reset your MusicDrops password"
    found = re.search(re.escape(live.url) + r"/accounts/password/reset/[^/\s]+/[^/\s]+/", text_of(reset))
    assert found is not None
    # The old address's request queued nothing: it came first, so its task would have been received first.
    assert received(worker, "send_password_reset_email_task") == 1
    # Nor did the refused moves: one notice and one link in all.
    assert received(worker, "send_address_change_requested_task") == 1
    assert received(worker, "send_email_change_email_task") == 1
    assert to(smtp_server, OLD) == [notice]
    assert len(smtp_server.messages) == 3

    page.goto(found.group(0))
    assert page.locator("input[name=new_password1]").count() == 1  # the link works: it asks for the new password
