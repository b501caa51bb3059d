"""Browser tests: Debian's chromium, driven by Playwright, against the real web and worker processes.

Playwright never downloads a browser here: it launches /usr/bin/chromium. On
a machine without it these tests are skipped with a message, except where
MUSICDROPS_REQUIRE_BROWSER=1 (CI sets it, after installing chromium), where
a missing browser is an error.
"""

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.localredis import free_port
from tests.catalog.upstream import UpstreamServer, serve
from tests.integration.processes import Process, wait_until

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

pytestmark = [pytest.mark.integration, pytest.mark.browser]


# Per module, not per session: while Playwright runs, this thread has an event
# loop, and Django refuses database calls made beside one as async-unsafe. The
# tests' calls are ordinary synchronous code all the same, so they are allowed
# for as long as the browser runs, setup and teardown included, and no longer.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists() or not shutil.which(str(CHROMIUM)):
        message = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run browser tests"
        if os.environ.get("MUSICDROPS_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


@dataclass
class Site:
    """The web process (gunicorn, from the Procfile) and, if asked for, the important- and regular-queue workers."""

    url: str
    upstream: UpstreamServer
    web: Process
    worker: Process | None
    regular_worker: Process | None = None

    def at(self, path: str) -> str:
        return self.url + path


@pytest.fixture
def upstream_server() -> Iterator[UpstreamServer]:
    with serve() as server:
        yield server


@pytest.fixture
def site(start_process, upstream_server) -> Callable[..., Site]:
    """Start the site: ``site()`` with the important-queue worker, ``site(worker=False)`` without it,
    ``site(regular=True)`` with the regular-queue one too (imports run there); extra env for all."""

    def start(*, worker: bool = True, regular: bool = False, **env: str) -> Site:
        port = free_port()
        common = {
            "MUSICBRAINZ_URL": upstream_server.musicbrainz_url,
            "LISTENBRAINZ_URL": upstream_server.listenbrainz_url,
            "SITE_URL": f"http://127.0.0.1:{port}",
            **env,
        }
        web = start_process("web", PORT=str(port), WEB_CONCURRENCY="1", **common)
        important = start_process("worker-important", **common) if worker else None
        regular_worker = start_process("worker-regular", **common) if regular else None
        url = f"http://127.0.0.1:{port}"
        web.wait_for("Booting worker", timeout=30)
        wait_until(lambda: _answers(url), 30, "the web process to answer", web)
        for started in (important, regular_worker):
            if started is not None:
                started.wait_for("ready.", timeout=60)
        return Site(url=url, upstream=upstream_server, web=web, worker=important, regular_worker=regular_worker)

    return start


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
