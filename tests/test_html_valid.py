"""Every page and every email is valid HTML, by the Nu HTML Checker (vnu, the W3C validator's engine).

vnu is a Java program from npm (`vnu-jar`, installed by `make test` where npm
is here). Without Java or the jar this test is skipped with the reason, except
where MUSICDROPS_REQUIRE_VNU=1 (CI sets it, after installing both): there a
missing checker is a failure.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from musicdrops.accounts.models import User
from musicdrops.catalog.models import Artist, Follow, ImportJob, ReleaseGroup
from musicdrops.drops.emails import DropRelease, DropRenderer, unsubscribe_token
from musicdrops.jobs.models import Job
from tests.catalog.upstream import SIGUR_ROS, serve

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
VNU = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"


def checker() -> list[str]:
    java = shutil.which("java")
    if java and VNU.is_file():
        return [java, "-jar", str(VNU)]
    reason = f"the HTML checker needs Java and {VNU.relative_to(ROOT)} (make test installs it with npm)"
    if os.environ.get("MUSICDROPS_REQUIRE_VNU") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def member() -> User:
    user = User.objects.create_user("fan@example.com", "a-long-enough-password", email_verified_at=timezone.now())
    artist = Artist.objects.create(mbid=SIGUR_ROS, name="Sigur Rós", disambiguation="Icelandic band")
    artist.synced_at = timezone.now()
    artist.save()
    Follow.objects.create(user=user, artist=artist)
    for n, (title, kind) in enumerate([("Takk… <b>&</b>", "album"), ("Hoppípolla", "single")]):
        release = ReleaseGroup.objects.create(
            mbid=f"40000000-0000-4000-8000-{n:012d}", title=title, kind=kind, primary_type="Album",
            first_release_date=timezone.localdate(), date_precision="day",
        )  # fmt: skip
        release.artists.add(artist)
    ImportJob.objects.create(
        user=user,
        source="names",
        query="Sigur Rós\nNirvana\nNobody at all",
        status="done",
        outcome={
            "followed": ["Sigur Rós"],
            "not_found": ["Nobody at all"],
            "ambiguous": [
                {
                    "name": "Nirvana",
                    "candidates": [
                        {"mbid": "50000000-0000-4000-8000-000000000001", "name": "Nirvana", "disambiguation": "US"},
                        {"mbid": "50000000-0000-4000-8000-000000000002", "name": "Nirvana", "disambiguation": "UK"},
                    ],
                }
            ],
        },
    )
    # One MusicBrainz was down for: what it matched, and "try again" for the rest.
    ImportJob.objects.create(
        user=user, source="names", query="Sigur Rós\nGenesis", status="failed", message="MusicBrainz isn't answering.",
        outcome={"followed": ["Sigur Rós"], "pending": ["Genesis"], "total": 2},
    )  # fmt: skip
    # The newest import still runs: the page watches it (and reloads itself without JavaScript).
    ImportJob.objects.create(
        user=user, source="listenbrainz", query="rob", status="running", outcome={"pending": ["Genesis"], "total": 1}
    )
    return user


def documents(tmp_path: Path) -> dict[str, str]:
    """{name: HTML} of every page a visitor and a member can see, and of every email we send."""
    found: dict[str, str] = {}
    visitor = Client()
    for url in ["/", "/accounts/login/", "/accounts/signup/", "/accounts/signup/sent/", "/accounts/password/reset/"]:
        found[url] = visitor.get(url).content.decode()
    found["/accounts/password/reset/sent/"] = visitor.get("/accounts/password/reset/sent/").content.decode()
    found["/accounts/verify/bad/"] = visitor.get("/accounts/verify/bad-token/").content.decode()
    found["404"] = visitor.get("/no-such-page/").content.decode()
    user = member()
    uid, token = urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)
    reset = visitor.get(f"/accounts/password/reset/{uid}/{token}/", follow=True)
    found["/accounts/password/reset/<uid>/<token>/"] = reset.content.decode()
    unsubscribe = f"/drops/unsubscribe/{unsubscribe_token(user.pk)}/"
    found[unsubscribe] = visitor.get(unsubscribe).content.decode()
    found[unsubscribe + " (done)"] = visitor.post(unsubscribe).content.decode()

    client = Client()
    client.force_login(user)
    job = Job.objects.create(user=user, kind=Job.Kind.REFRESH_LIBRARY)
    pages = [
        "/dashboard/",
        "/library/",
        "/library/?q=Sigur",
        "/library/?unfollowed=1",
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
    with serve() as server:
        settings.MUSICBRAINZ_URL = server.musicbrainz_url
        for url in pages:
            response = client.get(url)
            assert response.status_code == 200, url
            found[url] = response.content.decode()
    found["/library/preferences/ (nothing ticked)"] = client.post("/library/preferences/", {}).content.decode()

    releases = [
        DropRelease(
            title="Takk… <b>&</b>", artists="Sigur Rós", kind="Album", date="June 1, 2026",
            url="https://musicdrops.example/releases/x/", cover_url="https://coverartarchive.org/release-group/x/front-250",
            credits=(("Sigur Rós", "Sigur Rós (Icelandic band)", "https://musicdrops.example/artists/y/"),),
        ),
        DropRelease(title="No cover", artists="Sigur Rós", kind="EP", date="2026", url="https://musicdrops.example/r/")
    ]  # fmt: skip
    _, _, drop = DropRenderer(day=timezone.localdate()).render(user_id=user.pk, releases=releases)
    found["email: the daily drop"] = drop
    link = {"link": "https://example.com/x", "site_url": settings.SITE_URL}
    for template, subject in [
        ("verify_email", "Confirm your email address"),
        ("password_reset", "Reset your MusicDrops password"),
        ("address_in_use", "Your address is already on MusicDrops"),
    ]:
        context = {
            **link,
            "subject": subject,
            "email": user.email,
            "login_url": "https://e/",
            "reset_url": "https://e/",
        }
        found[f"email: {template}"] = render_to_string(f"emails/{template}.html", context)
    return found


def test_every_page_and_email_is_valid_html(tmp_path, settings):
    command = checker()
    settings.DEBUG = False
    pages = documents(tmp_path)
    files = {}
    for n, (name, html) in enumerate(pages.items()):
        path = tmp_path / f"{n:02d}.html"
        path.write_text(html, encoding="utf-8")
        files[path.name] = name
    result = subprocess.run(
        [*command, "--format", "json", "--exit-zero-always", *[str(p) for p in sorted(tmp_path.glob("*.html"))]],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(result.stderr or result.stdout)
    errors = [
        f"{files.get(m.get('url', '').rsplit('/', 1)[-1], m.get('url'))}:{m.get('lastLine')}: {m['message']}"
        for m in report["messages"]
        if m["type"] in {"error", "non-document-error"}
    ]
    print(f"vnu checked {len(pages)} documents")
    assert len(pages) >= 27
    assert errors == []
