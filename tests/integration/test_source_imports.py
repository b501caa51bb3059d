"""Imports from Last.fm and Deezer through the real regular-queue worker, against the replay server over HTTP."""

from typing import Any

import pytest

from musicdrops.accounts.models import User
from musicdrops.catalog import services, tasks
from musicdrops.catalog.models import Follow, ImportJob
from tests.catalog import upstream as up
from tests.catalog.import_sources import (
    API_KEY,
    SourcesServer,
    deezer_artist,
    deezer_error,
    lastfm_artist,
    lastfm_error,
)
from tests.integration.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_lastfm_and_deezer_imports_run_on_the_worker_through_rate_limits_and_list_what_they_could_not_match(
    start_process,
):
    server = SourcesServer()
    server.start()
    try:
        # Two pages of Last.fm (200 a page), the first answered "rate limit exceeded" once.
        server.lastfm_users["rj"] = [
            lastfm_artist("Sigur Rós", 5000, mbid=up.SIGUR_ROS),
            lastfm_artist("坂本龍一", 4000),
            *(lastfm_artist(f"Unknown Band {n}", 3000 - n) for n in range(210)),
            lastfm_artist("Motörhead", 2, mbid=up.MOTORHEAD),  # under the minimum
        ]
        server.script("/lastfm", lastfm_error(29, "Rate Limit Exceeded"))
        server.deezer_profiles["42"] = [deezer_artist("Motörhead", 1), deezer_artist("Nobody Known", 2)]
        server.script("/deezer/user/42", deezer_error(4, "Quota limit exceeded", "Exception"))
        server.deezer_profiles["7"] = None  # private
        worker = start_process(
            "worker-regular",
            MUSICBRAINZ_URL=server.musicbrainz_url,
            MUSICBRAINZ_REQUESTS_PER_SECOND="1000",
            LASTFM_URL=server.lastfm_url,
            LASTFM_API_KEY=API_KEY,
            DEEZER_URL=server.deezer_url,
        )
        worker.wait_for("ready.", timeout=60)
        fan = User.objects.create_user("fan@example.com", "correct-horse-battery-staple")

        def imported(source: str, query: str, **options: Any) -> ImportJob:
            job = services.import_start(
                user=fan, source=source, query=query, queue_import=tasks.queue_import, **options
            )
            over = ("done", "failed", "canceled")
            wait_until(lambda: ImportJob.objects.get(pk=job.pk).status in over, 90, f"the {source} import", worker)
            return ImportJob.objects.get(pk=job.pk)

        lastfm = imported("lastfm", "rj", period="3month", min_listens=10)
        deezer = imported("deezer", "https://www.deezer.com/en/profile/42")
        private = imported("deezer", "7")
    finally:
        server.stop()

    assert lastfm.status == "done", lastfm.message
    assert lastfm.outcome["total"] == 212
    assert len(lastfm.outcome["not_found"]) == 210
    lastfm_requests = server.requests_to("/lastfm")
    assert [r.param("page") for r in lastfm_requests] == ["1", "1", "2"]  # error 29, then both pages
    assert {r.param("period") for r in lastfm_requests} == {"3month"}
    assert deezer.status == "done", deezer.message
    assert deezer.outcome["not_found"] == ["Nobody Known"]
    assert len(server.requests_to("/deezer/user/42")) == 2  # the quota, then the answer
    assert private.status == "failed"
    assert "Deezer shows no favourite artists for profile 7" in private.message
    assert set(Follow.objects.filter(user=fan).values_list("artist__name", flat=True)) == {
        "Sigur Rós",
        "坂本龍一",
        "Motörhead",
    }
    assert "Traceback" not in worker.output()
