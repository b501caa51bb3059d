"""`make screenshots`: the README's pictures, taken from the running app in Debian's chromium.

A database of its own (SQLite, in a temporary folder) with a small made-up
catalogue, the web process from the Procfile, and Playwright driving
/usr/bin/chromium: the feed, an artist's page, an import waiting for choices and
today's email, at 1100 px wide and the feed at 390 px (a phone). Covers are
off (COVER_ART_URL=off), so the pictures show the placeholders every reader sees
until the Cover Art Archive's images arrive, the same on every machine.
"""

import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
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
_NAMESPACE = uuid.UUID("0f8d5a8e-2f43-4c8e-8a55-3c1f54b3c0de")

# (name, disambiguation, type, area, begin, end): made-up artists, two of them sharing a name.
ARTISTS = [
    ("Juniper & Ash", "", "Group", "Ireland", "2014", ""),
    ("Northbound Static", "", "Group", "Canada", "2009", ""),
    ("Lumen Choir", "", "Choir", "Estonia", "1998", ""),
    ("Mira Okafor", "", "Person", "Nigeria", "1991-04-02", ""),
    ("The Paper Lanterns", "UK folk band", "Group", "United Kingdom", "2011", ""),
    ("The Paper Lanterns", "US indie pop band", "Group", "United States", "2016", "2024"),
]
# (artist index, title, kind, days from today)
RELEASES = [
    (0, "Slow Rivers", "album", 6),
    (1, "Signal / Noise", "album", 21),
    (2, "Evensong", "single", 0),
    (3, "Field Recordings, Vol. 2", "ep", 0),
    (4, "Small Hours", "album", 0),
    (5, "Harbour Lights", "single", 0),
    (4, "Lanternlight", "album", -400),
    (4, "Winter Songs", "ep", -900),
    (4, "The Long Way Round", "single", -40),
    (0, "Kindling", "ep", -120),
    (1, "Carrier Wave", "single", -15),
]


def _mbid(*parts: object) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, "/".join(map(str, parts)))


def _seed() -> str:
    """The catalogue, the demo login following every artist, and an import asking which artist was meant."""
    from django.utils import timezone

    from musicdrops.accounts.models import User
    from musicdrops.catalog.models import Artist, Follow, ImportJob, ReleaseGroup

    user = User.objects.create_user(EMAIL, PASSWORD, email_verified_at=timezone.now())
    today = timezone.localdate()
    artists = []
    for n, (name, disambiguation, kind, area, begin, end) in enumerate(ARTISTS):
        artist = Artist.objects.create(
            mbid=_mbid("artist", n), name=name, sort_name=name, disambiguation=disambiguation, artist_type=kind,
            area=area, begin=begin, end=end, synced_at=timezone.now(),
        )  # fmt: skip
        Follow.objects.create(user=user, artist=artist)
        artists.append(artist)
    for n, (by, title, kind, days) in enumerate(RELEASES):
        release = ReleaseGroup.objects.create(
            mbid=_mbid("release", n), title=title, kind=kind, primary_type=kind.title() if kind != "ep" else "EP",
            first_release_date=today + dt.timedelta(days=days), date_precision="day",
            first_seen_at=timezone.now() - dt.timedelta(days=1),
        )  # fmt: skip
        release.artists.add(artists[by])

    def candidate(n: int, name: str, disambiguation: str, kind: str, area: str, begin: str) -> dict[str, object]:
        return {
            "mbid": str(_mbid("candidate", n)), "name": name, "disambiguation": disambiguation, "score": 100 - n,
            "artist_type": kind, "country": "", "area": area, "begin": begin, "end": "",
        }  # fmt: skip

    ImportJob.objects.create(
        user=user,
        source=ImportJob.Source.NAMES,
        query="Lumen Choir\nHalcyon\nThe Meridians\nNobody Knows This Band",
        status=ImportJob.Status.DONE,
        finished_at=timezone.now(),
        outcome={
            "total": 4,
            "pending": [],
            "followed": ["Lumen Choir"],
            "not_found": ["Nobody Knows This Band"],
            "ambiguous": [
                {
                    "name": "Halcyon",
                    "candidates": [
                        candidate(1, "Halcyon", "Australian ambient duo", "Group", "Australia", "2003"),
                        candidate(2, "Halcyon", "UK drum and bass producer", "Person", "United Kingdom", "1985"),
                    ],
                },
                {
                    "name": "The Meridians",
                    "candidates": [
                        candidate(3, "The Meridians", "Swedish jazz trio", "Group", "Sweden", "2012"),
                        candidate(4, "The Meridians", "1960s soul group", "Group", "United States", "1962"),
                    ],
                },
            ],
        },
    )
    return str(artists[4].mbid)


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
                page.screenshot(path=str(OUT / f"{name}.png"), full_page=name != "todays-email")
                print(f"docs/images/{name}.png")
            context.close()
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
