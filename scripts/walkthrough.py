"""A newcomer's walkthrough of `make run` in a real browser, and what the terminal printed meanwhile.

Starts `make run`'s runner (scripts/devstack.py) as a newcomer would, on a database of its own (SQLite in a
temporary folder) and its own private Redis, adds an admin as `make superuser` does, then for --minutes drives
Debian's chromium through what a newcomer does: log in with the demo login, the feed and its filters, the artists,
an artist's and a release's page, a search, a pasted-list import, settings changed and changed back, the email
preview, the feeds, "refresh now", and the admin's Scheduler page. It prints how many lines the terminal showed
during the walkthrough, how many were at WARNING or above and how many tracebacks, and those lines themselves.

    .venv/bin/python scripts/walkthrough.py [--minutes 10] [--pause 12] [--log walkthrough.log]
"""

import argparse
import collections
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts import localredis  # noqa: E402
from scripts.devstack import DEMO_EMAIL, DEMO_PASSWORD  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@musicdrops.local", "walk-through-the-admin"
LOUD = re.compile(r" (WARNING|ERROR|CRITICAL) |level=(warning|error|critical)\b")
FINISHED = "[data-testid=task-status][data-state=SUCCESS], [data-testid=task-status][data-state=FAILURE], " \
    "[data-testid=task-status][data-state=REVOKED], [data-testid=task-status][data-state=TIMEOUT]"  # fmt: skip


@dataclass
class Terminal:
    """make run's output, line by line, as its terminal shows it."""

    process: subprocess.Popen[bytes]
    lines: list[str] = field(default_factory=list)

    def pump(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"make run did not print {text!r} within {timeout:.0f} s:\n" + "\n".join(self.lines))
            time.sleep(0.5)


class Walk:
    """The steps a newcomer takes, each a page or two, with time to read each one."""

    def __init__(self, browser: Any, site: str, pause: float) -> None:
        self.browser, self.site, self.pause = browser, site, pause
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.round = 0

    def read(self) -> None:
        self.page.wait_for_timeout(self.pause * 1000)

    def go(self, path: str) -> None:
        self.page.goto(self.site + path)
        self.read()

    def log_in(self) -> None:
        self.page.goto(self.site + "/accounts/login/")
        self.page.get_by_label("Email").fill(DEMO_EMAIL)
        self.page.get_by_label("Password").fill(DEMO_PASSWORD)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_url("**/dashboard/")
        self.read()

    def feed(self) -> None:
        self.go("/dashboard/")
        self.page.locator("form.filters select").first.select_option(index=1)
        self.page.locator("form.filters button").click()
        self.page.wait_for_load_state()
        self.read()

    def artists(self) -> None:
        self.go("/library/")
        self.page.locator("main a[href^='/artists/']").nth(self.round).click()
        self.page.wait_for_load_state()
        self.read()
        self.page.locator("main a[href^='/releases/']").first.click()
        self.page.wait_for_load_state()
        self.read()

    def search(self) -> None:
        self.page.goto(self.site + "/library/")
        self.page.locator("#id_q").fill(["Radiohead", "Björk", "Sigur Rós"][self.round % 3])
        self.page.get_by_role("button", name="Search").click()
        self.page.wait_for_load_state()
        self.read()

    def pasted_list(self) -> None:
        self.page.goto(self.site + "/library/import/")
        section = self.page.locator("#from-a-list")
        section.locator("textarea").fill("Radiohead\nBjörk\nThe Paper Lanterns")
        section.get_by_role("button", name="Import").click()
        self.page.wait_for_load_state()
        self.page.locator(FINISHED).first.wait_for(timeout=90_000)
        self.read()

    def settings(self) -> None:
        self.page.goto(self.site + "/accounts/settings/")
        form = self.page.locator("form[action='/accounts/settings/delivery/']")
        hour = form.locator("select[name=delivery_hour]")
        before = hour.input_value()
        for value, digest in ((str((int(before) + 1) % 24), "weekly"), (before, "daily")):
            hour.select_option(value)
            form.locator(f"input[name=digest][value={digest}]").check()
            form.get_by_role("button", name="Save").click()
            self.page.wait_for_load_state()
            self.read()

    def preferences(self) -> None:
        self.go("/library/preferences/")

    def todays_email(self) -> None:
        self.go("/drops/today/")

    def feeds(self) -> None:
        self.go("/feeds/")
        for feed in ("#atom-url", "#ical-url"):  # as a feed reader and a calendar would fetch them
            self.page.request.get(self.page.locator(feed).input_value())

    def refresh_now(self) -> None:
        self.page.goto(self.site + "/dashboard/")
        self.page.get_by_test_id("refresh-library").click()
        self.page.locator(FINISHED).first.wait_for(timeout=150_000)
        self.read()

    def scheduler_page(self) -> None:
        context = self.browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        try:
            page.goto(self.site + "/admin/login/?next=/admin/")
            page.locator("#id_username").fill(ADMIN_EMAIL)
            page.locator("#id_password").fill(ADMIN_PASSWORD)
            page.locator("input[type=submit]").click()
            page.wait_for_url("**/admin/")
            for path in ("/admin/scheduler/schedulercontrol/", "/admin/catalog/artist/"):
                page.goto(self.site + path)
                page.wait_for_timeout(self.pause * 1000)
        finally:
            context.close()

    def steps(self) -> list[Callable[[], None]]:
        return [self.feed, self.artists, self.search, self.pasted_list, self.settings, self.preferences,
                self.todays_email, self.feeds, self.refresh_now, self.scheduler_page]  # fmt: skip


def walk(site: str, minutes: float, pause: float) -> list[str]:
    """Walk the steps round and round until the time is up; what went wrong, one line per failed step."""
    from playwright.sync_api import Error, sync_playwright

    failures = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        walker = Walk(browser, site, pause)
        walker.log_in()
        deadline = time.monotonic() + minutes * 60
        while time.monotonic() < deadline:
            for step in walker.steps():
                if time.monotonic() >= deadline:
                    break
                started = time.monotonic()
                try:
                    step()
                    print(f"  {step.__name__}: {time.monotonic() - started:.1f} s", flush=True)
                except Error as error:
                    failures.append(f"{step.__name__} (round {walker.round + 1}): {str(error).splitlines()[0]}")
                    print(f"  {step.__name__}: failed: {failures[-1]}", flush=True)
            walker.round += 1
        browser.close()
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--pause", type=float, default=12, help="seconds spent reading each page")
    parser.add_argument("--log", type=Path, help="keep make run's whole output here")
    options = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="musicdrops-walk-") as folder:
        port = localredis.free_port()
        env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DATABASE_URL", "PORT"}}
        env.update(DATABASE_URL=f"sqlite:///{folder}/walk.sqlite3", PORT=str(port), DEBUG="1")
        stack = subprocess.Popen(
            [sys.executable, "scripts/devstack.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        terminal = Terminal(stack)
        threading.Thread(target=terminal.pump, daemon=True).start()
        try:
            terminal.wait_for("MusicDrops is running at", timeout=180)
            admin = {**env, "DJANGO_SUPERUSER_EMAIL": ADMIN_EMAIL, "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD}
            subprocess.run(
                [sys.executable, "manage.py", "createsuperuser", "--noinput"], cwd=ROOT, env=admin, check=True,
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(5)  # the start-up's last lines are not the walkthrough's
            first = len(terminal.lines)
            started = time.monotonic()
            print(f"Walking through http://127.0.0.1:{port} for {options.minutes:g} minutes", flush=True)
            failures = walk(f"http://127.0.0.1:{port}", options.minutes, options.pause)
            elapsed = time.monotonic() - started
            seen = terminal.lines[first:]
        finally:
            os.killpg(stack.pid, signal.SIGINT)  # Ctrl-C, as a person stops make run
            stack.wait(timeout=60)
        if options.log:
            options.log.write_text("\n".join(terminal.lines) + "\n")
    loud = [line for line in seen if LOUD.search(line)]
    tracebacks = [line for line in seen if "Traceback (most recent call last)" in line]
    by_process = collections.Counter(line.split("|", 1)[0].split()[-1] for line in seen if "|" in line)
    print(f"\n{len(seen)} lines in {elapsed / 60:.1f} minutes of walkthrough; {len(loud)} at WARNING or above; "
          f"{len(tracebacks)} tracebacks")  # fmt: skip
    print("By process: " + ", ".join(f"{name} {count}" for name, count in by_process.most_common()))
    for line in loud + tracebacks:
        print(f"  {line[:300]}")
    for failure in failures:
        print(f"  step failed: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
