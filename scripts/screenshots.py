"""`make screenshots`: the README's pictures, taken from the running app in Debian's chromium.

A database of its own (SQLite, in a temporary folder) with `make run`'s made-up
demo catalogue, the web process from the Procfile, and Playwright driving
/usr/bin/chromium: the feed, an artist's page, an import waiting for choices and
today's email, at 1100 px wide and the feed at 390 px (a phone). Covers are
off (COVER_ART_URL=off), so the pictures show the placeholders every reader sees
until the Cover Art Archive's images arrive, the same on every machine.
"""

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from musicdrops.ops.procfile import read_procfile  # noqa: E402
from scripts import localredis  # noqa: E402

OUT = ROOT / "docs" / "images"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip
EMAIL, PASSWORD = "demo@musicdrops.local", "listen-to-more-music"


def _seed() -> str:
    """`make run`'s demo data (musicdrops/ops/demo.py): the pictures show what a newcomer sees. The artist's MBID."""
    from musicdrops.catalog.models import Artist
    from musicdrops.ops.demo import demo_seed

    demo_seed(users=0, demo_email_address=EMAIL, demo_password=PASSWORD)
    return str(Artist.objects.get(name="The Paper Lanterns", disambiguation="UK folk band").mbid)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def main() -> int:
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="musicdrops-shots-") as folder:
        port = localredis.free_port()
        # A Redis of its own too: the pictures' sessions and cache stay out of anyone's.
        redis, redis_url = localredis.start(directory=Path(folder) / "redis")
        env = {
            **os.environ,
            "DEBUG": "1",
            "DATABASE_URL": f"sqlite:///{folder}/shots.sqlite3",
            "REDIS_URL": redis_url,
            "SITE_URL": f"http://127.0.0.1:{port}",
            "COVER_ART_URL": "off",
            "PORT": str(port),
            "WEB_CONCURRENCY": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # the venv's gunicorn
        }
        os.environ.update(env)
        os.environ["DJANGO_SETTINGS_MODULE"] = "musicdrops.settings"
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        artist_mbid = _seed()
        web = subprocess.Popen(read_procfile()["web"], shell=True, cwd=ROOT, env=env, start_new_session=True)  # noqa: S602 (the Procfile's own line)
        try:
            site = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while not _answers(site + "/accounts/login/"):
                if time.monotonic() > deadline or web.poll() is not None:
                    print("the web process did not answer within 30 s", file=sys.stderr)
                    return 1
                time.sleep(0.3)
            _shoot(site, artist_mbid)
        finally:
            os.killpg(web.pid, 15)
            web.wait(15)
            redis.kill()
    return 0


def _shoot(site: str, artist_mbid: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for width, pages in [
            (1100, [("/dashboard/", "releases"), (f"/artists/{artist_mbid}/", "artist"),
                    ("/library/import/", "import"), ("/drops/today/", "todays-email")]),
            (390, [("/dashboard/", "releases-phone")]),
        ]:  # fmt: skip
            context = browser.new_context(viewport={"width": width, "height": 760}, device_scale_factor=1)
            page = context.new_page()
            page.goto(site + "/accounts/login/")
            page.get_by_label("Email").fill(EMAIL)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url("**/dashboard/")
            for path, name in pages:
                page.goto(site + path)
                page.wait_for_load_state("networkidle")
                # The feed's top (upcoming, then the first releases out: it runs to 25 a page); the email as a screen
                # shows it; the rest whole.
                picture = str(OUT / f"{name}.png")
                if name.startswith("releases"):
                    page.screenshot(path=picture, full_page=True, clip={"x": 0, "y": 0, "width": width, "height": 1500})
                else:
                    page.screenshot(path=picture, full_page=name != "todays-email")
                print(f"docs/images/{name}.png")
            context.close()
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
