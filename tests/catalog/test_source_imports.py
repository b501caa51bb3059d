"""Imports from Last.fm and Deezer: the forms, the job end to end against the replay server, its status and owner."""

import json
import re
import subprocess
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from musicdrops.accounts.models import User
from musicdrops.catalog import deezer, import_selectors, lastfm, listenbrainz, musicbrainz, services, tasks
from musicdrops.catalog.models import Artist, Follow, ImportJob
from tests.catalog import upstream as up
from tests.catalog.import_sources import API_KEY, deezer_artist, deezer_error, lastfm_artist, lastfm_error
from tests.helpers import queued_tasks
from tests.test_html_valid import checker

pytestmark = pytest.mark.django_db(transaction=True)


def run(job: ImportJob, server, **kwargs: Any) -> bool:
    """One slice of the import task, with clients that do not really sleep between tries."""
    return services.import_run(
        job_id=job.pk,
        mb_client=musicbrainz.default_client(),
        lb_client=listenbrainz.default_client(),
        lastfm_client=lastfm.LastfmClient(
            base_url=server.lastfm_url, api_key=API_KEY, user_agent="t", rate_limiter=None, sleep=lambda s: None
        ),
        deezer_client=deezer.DeezerClient(
            base_url=server.deezer_url, user_agent="t", rate_limiter=None, sleep=lambda s: None
        ),
        queue_sync=tasks.queue_artist_sync,
        **kwargs,
    )


def run_to_the_end(job: ImportJob, server) -> ImportJob:
    while run(job, server):
        pass
    job.refresh_from_db()
    return job


def followed(user: User) -> set[str]:
    return set(Follow.objects.filter(user=user).values_list("artist__name", flat=True))


def start(user: User, source: str, query: str, **kwargs: Any) -> ImportJob:
    return services.import_start(user=user, source=source, query=query, queue_import=tasks.queue_import, **kwargs)


def status_of(client: Client, job: ImportJob) -> Any:
    return client.get(reverse("catalog:import_status", args=[job.pk]), {"nonce": "n1"}).json()


@pytest.fixture
def rj(sources):
    """A Last.fm user: two artists with MBIDs, one Last.fm knows only by name, one MusicBrainz doesn't know."""
    sources.lastfm_users["rj"] = [
        lastfm_artist("Sigur Rós", 1204, mbid=up.SIGUR_ROS),
        lastfm_artist("Motörhead", 877, mbid=up.MOTORHEAD),
        lastfm_artist("坂本龍一", 450),
        lastfm_artist("Some Bandcamp Act", 120),
        lastfm_artist("Ólafur Arnalds", 3),
    ]
    return "rj"


# --- the forms ---------------------------------------------------------------------------


def test_the_lastfm_form_queues_a_job_with_its_period_and_minimum(client, user, sources, redis_client):
    response = client.post(
        reverse("catalog:imports"),
        {"lastfm-username": " rj ", "lastfm-period": "6month", "lastfm-min_listens": "100"},
    )

    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert (job.source, job.query, job.period, job.min_listens, job.status) == (
        "lastfm",
        "rj",
        "6month",
        100,
        "pending",
    )
    assert queued_tasks(redis_client, "regular") == ["musicdrops.catalog.tasks.import_artists_task"]


@pytest.mark.parametrize(
    "data",
    [
        {"lastfm-username": "rj", "lastfm-period": "forever"},
        {"lastfm-username": "", "lastfm-period": "overall"},
        {"lastfm-username": "a/b", "lastfm-period": "overall"},
        {"lastfm-username": "x" * 65, "lastfm-period": "overall"},
        {"lastfm-username": "rj", "lastfm-period": "overall", "lastfm-min_listens": "-1"},
    ],
)
def test_bad_lastfm_input_is_a_form_error(client, user, sources, data):
    response = client.post(reverse("catalog:imports"), data)

    assert response.status_code == 200
    assert 'class="errors" role="alert"' in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_without_an_api_key_the_lastfm_form_says_the_site_has_none(client, user, settings):
    settings.LASTFM_API_KEY = ""

    page = client.get(reverse("catalog:imports")).content.decode()
    assert "This site has no Last.fm API key configured" in page
    assert 'name="lastfm-username"' not in page

    response = client.post(reverse("catalog:imports"), {"lastfm-username": "rj", "lastfm-period": "overall"})
    assert response.status_code == 200
    assert "no Last.fm API key configured" in response.content.decode()
    assert ImportJob.objects.count() == 0


@pytest.mark.parametrize(
    "given", ["https://www.deezer.com/en/profile/123456789", "123456789", "www.deezer.com/profile/123456789/artists"]
)
def test_the_deezer_form_takes_an_address_or_a_number(client, user, given):
    assert client.post(reverse("catalog:imports"), {"deezer-profile": given}).status_code == 302

    job = ImportJob.objects.get()
    assert (job.source, job.query) == ("deezer", "123456789")


@pytest.mark.parametrize("given", ["", "rob", "https://www.deezer.com/artist/27", "https://evil.example/profile/1"])
def test_anything_else_is_a_clear_deezer_form_error(client, user, given):
    response = client.post(reverse("catalog:imports"), {"deezer-profile": given})

    assert response.status_code == 200
    page = response.content.decode()
    assert "That is not a Deezer profile" in page or "This field is required" in page
    assert ImportJob.objects.count() == 0


def test_what_each_form_was_given_last_stays_in_it(client, user, settings):
    settings.LASTFM_API_KEY = API_KEY
    ImportJob.objects.create(
        user=user, source="lastfm", query="rj", period="3month", min_listens=7, status="failed", message="x"
    )
    ImportJob.objects.create(user=user, source="deezer", query="42", status="done")

    page = client.get(reverse("catalog:imports")).content.decode()

    assert 'name="lastfm-username" value="rj"' in page
    assert re.search(r'<option value="3month" selected>', page)
    assert 'name="lastfm-min_listens" value="7"' in page
    assert 'name="deezer-profile" value="42"' in page
    assert 'name="username"' in page
    assert 'name="username" value=' not in page  # ListenBrainz's stays empty


# --- the job, end to end ---------------------------------------------------------------


def test_a_lastfm_import_looks_up_mbids_searches_names_and_lists_what_it_could_not_match(client, user, sources, rj):
    Artist.objects.create(mbid=up.SIGUR_ROS, name="Sigur Rós")  # known: followed without a request
    job = start(user, "lastfm", rj, period="12month", min_listens=100)

    job = run_to_the_end(job, sources)

    assert job.status == "done"
    assert followed(user) == {"Sigur Rós", "Motörhead", "坂本龍一"}
    assert job.outcome["not_found"] == ["Some Bandcamp Act"]
    assert job.outcome["total"] == 4  # Ólafur Arnalds, 3 plays, is under the minimum
    assert sources.requests_to("/lastfm")[0].param("period") == "12month"
    assert not sources.requests_to(f"/ws/2/artist/{up.SIGUR_ROS}")
    assert sources.requests_to(f"/ws/2/artist/{up.MOTORHEAD}")  # an MBID Last.fm gave: looked up, not searched
    assert status_of(client, job)["message"] == "All done: 4 artists matched: 3 followed, 1 not found."
    page = client.get(reverse("catalog:imports")).content.decode()
    assert "Last.fm: rj" in page
    assert "Not found on MusicBrainz: Some Bandcamp Act" in page


def test_a_long_lastfm_library_is_imported_page_by_page_down_to_the_minimum(user, sources):
    sources.lastfm_users["long"] = [lastfm_artist(f"Band {n}", 1000 - n) for n in range(450)]
    job = start(user, "lastfm", "long", period="overall", min_listens=700)

    run(job, sources, seconds=0)  # reads Last.fm, matches nothing yet

    job.refresh_from_db()
    assert job.outcome["total"] == 301  # 1000 down to 700 plays
    assert [r.param("page") for r in sources.requests_to("/lastfm")] == ["1", "2"]  # 200 a page; page 2 ends at 601


def test_a_deezer_import_searches_every_name_and_lists_what_it_could_not_match(client, user, sources):
    sources.deezer_profiles["42"] = [
        deezer_artist("Sigur Rós", 1),
        deezer_artist("坂本龍一", 2),
        deezer_artist("Nobody Known", 3),
        deezer_artist("Sigur Rós", 4),  # twice: searched once
    ]
    job = start(user, "deezer", "https://www.deezer.com/profile/42")
    assert job.query == "42"

    job = run_to_the_end(job, sources)

    assert job.status == "done"
    assert followed(user) == {"Sigur Rós", "坂本龍一"}
    assert job.outcome["not_found"] == ["Nobody Known"]
    assert len(sources.requests_to("/ws/2/artist", subject="search")) == 3
    assert "Deezer: profile 42" in client.get(reverse("catalog:imports")).content.decode()


def test_a_private_deezer_profile_fails_with_what_to_check(client, user, sources):
    sources.deezer_profiles["7"] = None
    job = run_to_the_end(start(user, "deezer", "7"), sources)

    assert job.status == "failed"
    body = status_of(client, job)
    assert (body["state"], body["done"]) == ("FAILURE", True)
    assert "Deezer shows no favourite artists for profile 7" in body["message"]
    assert "public" in body["message"]


def test_an_unknown_lastfm_user_fails_saying_so(client, user, sources):
    job = run_to_the_end(start(user, "lastfm", "nobody-here", period="overall"), sources)

    assert job.status == "failed"
    assert status_of(client, job)["message"] == "Last.fm has no user “nobody-here”."


@pytest.mark.parametrize(
    ("source", "query", "path", "reply", "service"),
    [
        ("lastfm", "rj", "/lastfm", lastfm_error(29, "Rate Limit Exceeded"), "Last.fm"),
        ("lastfm", "rj", "/lastfm", up.unavailable(status=503), "Last.fm"),
        ("deezer", "42", "/deezer", deezer_error(4, "Quota limit exceeded", "Exception"), "Deezer"),
        ("deezer", "42", "/deezer", up.garbage(), "Deezer"),
    ],
    ids=["lastfm-29", "lastfm-503", "deezer-quota", "deezer-garbage"],
)
def test_a_source_still_failing_after_its_retries_fails_the_import_naming_it(
    client, user, sources, rj, source, query, path, reply, service
):
    sources.deezer_profiles["42"] = [deezer_artist("Sigur Rós", 1)]
    sources.always(path, reply)

    job = run_to_the_end(start(user, source, query, period="overall"), sources)

    assert job.status == "failed"
    assert job.message.startswith(f"{service} isn't answering right now")
    assert 2 <= len(sources.requests_to(path)) <= 4  # retried, and bounded
    assert Follow.objects.count() == 0


def test_the_status_says_whom_it_is_asking_then_how_far_it_got(client, user, sources, rj):
    Artist.objects.create(mbid=up.SIGUR_ROS, name="Sigur Rós")
    job = start(user, "lastfm", rj, period="overall", min_listens=100)
    ImportJob.objects.filter(pk=job.pk).update(status="running")
    assert status_of(client, job)["message"] == "Asking Last.fm for your top artists…"
    ImportJob.objects.filter(pk=job.pk).update(status="pending")

    run(job, sources, seconds=0)

    body = status_of(client, job)
    assert body["message"] == "Matched 1 of 4 artists on MusicBrainz: 1 followed, 0 to choose, 0 not found…"
    assert body["progress"] == 25


def test_its_owner_cancels_a_lastfm_import_and_it_stops_before_the_next_artist(client, user, sources, rj):
    job = start(user, "lastfm", rj, period="overall")
    run(job, sources, seconds=0)

    assert client.post(reverse("catalog:import_cancel", args=[job.pk])).status_code == 302
    assert run(job, sources) is False

    job.refresh_from_db()
    assert job.status == "canceled"
    assert Follow.objects.count() == 0
    assert import_selectors.import_status(job=job).message.startswith("Cancelled after matching 0 of 5 artists")


def test_nobody_else_sees_reads_or_cancels_an_import(client, user, django_user_model):
    mine = ImportJob.objects.create(user=user, source="lastfm", query="my-secret-name", period="overall")
    other = django_user_model.objects.create_user("other@example.com", "another-long-passphrase-1")
    theirs = ImportJob.objects.create(user=other, source="deezer", query="31337", status="running")

    page = client.get(reverse("catalog:imports")).content.decode()
    assert "31337" not in page
    response = client.get(reverse("catalog:import_status", args=[theirs.pk]), {"nonce": "n"})
    assert response.status_code == 404
    assert client.post(reverse("catalog:import_cancel", args=[theirs.pk])).status_code == 404
    assert ImportJob.objects.get(pk=theirs.pk).status == "running"

    stranger = Client()
    assert stranger.get(reverse("catalog:import_status", args=[mine.pk]), {"nonce": "n"}).status_code == 404
    assert stranger.get(reverse("catalog:imports")).status_code == 302  # to the log-in page
    stranger.force_login(other)
    assert "my-secret-name" not in stranger.get(reverse("catalog:imports")).content.decode()


def test_a_finished_lastfm_import_books_what_it_found_not_the_most_it_could(user, sources, rj):
    for _ in range(2):
        job = run_to_the_end(start(user, "lastfm", rj, period="overall"), sources)
        assert job.outcome["total"] == 5

    # Ten booked, not a thousand: the day still has room for a long pasted list.
    start(user, "names", "\n".join(f"Band {n}" for n in range(services.MAX_IMPORT_NAMES)))


def test_the_import_page_with_every_source_is_valid_html(client, user, settings, tmp_path):
    command = checker()  # skipped, saying why, without Java and the Nu HTML Checker
    settings.DEBUG = False
    settings.LASTFM_API_KEY = API_KEY
    outcome = {"total": 3, "pending": [], "followed": ["Sigur Rós"], "not_found": ["Some <b>Act</b>", "坂本"]}
    ImportJob.objects.create(user=user, source="deezer", query="42", status="done", outcome=outcome)
    ImportJob.objects.create(user=user, source="lastfm", query="rj", period="7day", status="failed", message="No")
    ImportJob.objects.create(user=user, source="lastfm", query="rj", period="7day", status="running")
    pages = {
        "page": client.get(reverse("catalog:imports")).content.decode(),
        "form errors": client.post(
            reverse("catalog:imports"), {"lastfm-username": "", "lastfm-period": "x", "deezer-profile": "rob"}
        ).content.decode(),
        "deezer error": client.post(reverse("catalog:imports"), {"deezer-profile": "rob"}).content.decode(),
    }
    settings.LASTFM_API_KEY = ""
    pages["no key"] = client.get(reverse("catalog:imports")).content.decode()
    for name, html in pages.items():
        (tmp_path / f"{name}.html").write_text(html, encoding="utf-8")

    result = subprocess.run(
        [*command, "--format", "json", "--exit-zero-always", *map(str, sorted(tmp_path.glob("*.html")))],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )

    report = json.loads(result.stderr or result.stdout)
    errors = [f"{m.get('url')}:{m.get('lastLine')}: {m['message']}" for m in report["messages"] if m["type"] != "info"]
    assert errors == []
    assert "That is not a Deezer profile" in pages["deezer error"]
