"""A person's artist search while the catalogue syncs: the time to the page, through gunicorn.

    python -m bench.search [--searches 60] [--every 4]

The web process (the Procfile's line, production settings) talks to the local
MusicBrainz replay server, which answers at once: what is measured is our own
path, the shared 1 request/s budget included. Meanwhile two background threads
here keep that budget busy the way the periodic sync and a follow's sync do
(paged browses through the real client and the same Redis limiter), so every
request a person's search makes competes with them.

Three kinds of search, one every ``--every`` seconds (15 a minute is the lane's
allowance, MUSICBRAINZ_INTERACTIVE_PER_MINUTE):
- a new query (nobody searched it: MusicBrainz is asked, through the lane ahead);
- the same query again (answered from the cache);
- for comparison, a new query with the lane turned off (MUSICBRAINZ_INTERACTIVE_PER_MINUTE=0
  in a second web process): it waits its turn behind the background.

The bar (issue 16): p50 under 300 ms while syncs run.
"""

import argparse
import os
import signal
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

from bench.daily_send import DEFAULT_DATABASE_URL, ensure_database, procfile_command
from bench.web import free_port, start

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"


def prepare() -> str:
    """A user with a session: its cookie value."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from musicdrops.accounts.models import User

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)  # production settings serve from its manifest
    user, _ = User.objects.get_or_create(email="bench-search@example.com")
    client = Client()
    client.force_login(user)
    return str(client.cookies[settings.SESSION_COOKIE_NAME].value)


def wait_up(base: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "/accounts/login/", timeout=1):  # noqa: S310 (loopback)
                return
        except OSError as error:
            if time.monotonic() > deadline:
                raise SystemExit(f"the web process did not answer: {error}") from error
            time.sleep(0.2)


def timed_get(url: str, cookie: str) -> float:
    request = urllib.request.Request(url, headers={"Cookie": cookie})  # noqa: S310 (loopback)
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
        body = response.read()
    elapsed = time.monotonic() - started
    if b"isn't answering" in body or response.status != 200:
        raise SystemExit(f"{url}: the search failed")
    return elapsed


def background(server: object, stop: threading.Event, counter: list[int]) -> None:
    """Browse artists of 250 release groups (three pages) through the real client, until told to stop."""
    from musicdrops.catalog import musicbrainz
    from tests.catalog.upstream import fixture_mbid, many_release_groups

    client = musicbrainz.default_client()
    n = 0
    while not stop.is_set():
        mbid = fixture_mbid("bench-search-sync", f"{threading.get_ident()}-{n}")
        server.set_release_groups(mbid, many_release_groups(250, seed=mbid), indexed=True)  # type: ignore[attr-defined]
        client.browse_release_groups(mbid)
        counter[0] += 3
        n += 1


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searches", type=int, default=60, help="of each kind")
    parser.add_argument("--every", type=float, default=4.0, help="seconds between two searches")
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    ports = free_port(), free_port()
    os.environ.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "benchmark-only-secret-key-not-used-for-anything-real-0123"),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SITE_URL": f"http://127.0.0.1:{ports[0]}",
            "SECURE_SSL_REDIRECT": "0",
            "DJANGO_SETTINGS_MODULE": "musicdrops.settings",
        }
    )
    sys.path.insert(0, str(ROOT))
    ensure_database(os.environ["DATABASE_URL"])
    from tests.catalog.upstream import serve

    cookie = f"{os.environ.get('SESSION_COOKIE_NAME', 'sessionid')}={prepare()}"
    from django.conf import settings

    with serve() as server:
        settings.MUSICBRAINZ_URL = server.musicbrainz_url
        env = {
            **os.environ,
            "MUSICBRAINZ_URL": server.musicbrainz_url,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        command = procfile_command("web") + " --access-logfile /dev/null"
        lane = start("search-web", command, {**env, "PORT": str(ports[0])})
        # The same web process without the lane, for the comparison.
        no_lane = start(
            "search-web-no-lane", command, {**env, "PORT": str(ports[1]), "MUSICBRAINZ_INTERACTIVE_PER_MINUTE": "0"}
        )
        stop = threading.Event()
        counter = [0]
        syncs = [threading.Thread(target=background, args=(server, stop, counter), daemon=True) for _ in range(2)]
        started: list[threading.Thread] = []
        try:
            for port in ports:
                wait_up(f"http://127.0.0.1:{port}")
            for thread in syncs:
                thread.start()
                started.append(thread)
            time.sleep(5)  # the budget is busy before the first search
            began, requests_before = time.monotonic(), counter[0]
            times: dict[str, list[float]] = {"new": [], "again": [], "new, lane off": []}
            for n in range(args.searches):
                query = f"/library/?q=nobody+{os.getpid()}+{n}"
                times["new"].append(timed_get(f"http://127.0.0.1:{ports[0]}{query}", cookie))
                times["again"].append(timed_get(f"http://127.0.0.1:{ports[0]}{query}", cookie))
                time.sleep(args.every / 2)
                times["new, lane off"].append(timed_get(f"http://127.0.0.1:{ports[1]}{query}+off", cookie))
                time.sleep(args.every / 2)
            background_rate = (counter[0] - requests_before) / (time.monotonic() - began)
        finally:
            stop.set()
            for thread in started:
                thread.join(30)
            for process in (lane, no_lane):
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(15)

    print(f"artist search through gunicorn while two syncs browse at {background_rate:.2f} requests/s")
    for kind, values in times.items():
        p50, p95, top = (1000 * f for f in (statistics.median(values), percentile(values, 0.95), max(values)))
        print(f"  {kind:>14}: p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {top:.0f} ms ({len(values)} searches)")
    met = statistics.median(times["new"]) < 0.3 and statistics.median(times["again"]) < 0.3
    print(f"  bar: p50 under 300 ms while syncs run: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
