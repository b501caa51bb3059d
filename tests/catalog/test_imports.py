import datetime as dt
import threading
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog import import_selectors, listenbrainz, musicbrainz, services, tasks
from musicdrops.catalog.models import Artist, Follow, ImportJob
from tests.catalog.upstream import GENESIS_UK, GENESIS_US, NIRVANA_UK, NIRVANA_US, SIGUR_ROS, same_names
from tests.helpers import queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)


def run(job: ImportJob, **kwargs) -> bool:
    return services.import_run(
        job_id=job.pk,
        mb_client=musicbrainz.default_client(),
        lb_client=listenbrainz.default_client(),
        queue_sync=tasks.queue_artist_sync,
        **kwargs,
    )


def followed(user: User) -> set[str]:
    return set(Follow.objects.filter(user=user).values_list("artist__name", flat=True))


def test_import_form_queues_a_job_on_the_regular_queue(client, user, redis_client):
    client.post(reverse("catalog:imports"), {"username": "rob"})

    job = ImportJob.objects.get()
    assert (job.user, job.source, job.query, job.status) == (user, "listenbrainz", "rob", "pending")
    assert queued_tasks(redis_client, "regular") == ["musicdrops.catalog.tasks.import_artists_task"]


def test_listenbrainz_import_follows_known_artists_and_searches_the_rest(user, upstream):
    job = services.import_start(queue_import=tasks.queue_import, user=user, source="listenbrainz", query="rob")

    assert run(job) is False

    job.refresh_from_db()
    assert job.status == "done"
    assert followed(user) == {"Sigur Rós", "Motörhead", "坂本龍一"}
    assert job.outcome["not_found"] == ["Some Bandcamp Act"]


def test_a_listenbrainz_import_leaves_out_artists_under_the_minimum_listens(client, user, upstream):
    client.post(reverse("catalog:imports"), {"username": "rob", "min_listens": "500"})
    job = ImportJob.objects.get()
    assert job.min_listens == 500

    assert run(job) is False

    assert followed(user) == {"Sigur Rós", "Motörhead"}  # 1,204 and 877 listens; 450 and 120 are left out
    job.refresh_from_db()
    assert job.outcome["not_found"] == []


def test_a_negative_minimum_is_a_form_error(client, user):
    response = client.post(reverse("catalog:imports"), {"username": "rob", "min_listens": "-3"})

    assert response.status_code == 200
    assert ImportJob.objects.count() == 0


@pytest.mark.parametrize(("name", "message"), [("newcomer", "statistics"), ("nobody-here", "ListenBrainz user")])
def test_listenbrainz_not_ready_or_unknown_user_fails_with_a_clear_message(user, upstream, name, message):
    job = services.import_start(queue_import=tasks.queue_import, user=user, source="listenbrainz", query=name)

    run(job)

    job.refresh_from_db()
    assert job.status == "failed"
    assert message.lower() in job.message.lower()


def finished_import(user, upstream, names: str = "Sigur Rós\n  motörhead \n\nNirvana\nGenesis\nNo Such Band\n"):
    same_names(upstream)
    job = services.import_start(queue_import=tasks.queue_import, user=user, source="names", query=names)
    run(job)
    job.refresh_from_db()
    return job


def resolve(client, job: ImportJob, picks: dict[str, str], **kwargs):
    data = {}
    for n, (name, mbid) in enumerate(picks.items()):
        data[f"name-{n}"] = name
        data[f"pick-{n}"] = mbid
    return client.post(reverse("catalog:import_resolve", args=[job.pk]), data, **kwargs)


def test_a_pasted_list_is_matched_and_ambiguous_names_wait_for_the_user_with_what_tells_them_apart(
    client, user, upstream
):
    job = finished_import(user, upstream)

    assert followed(user) == {"Sigur Rós", "Motörhead"}
    assert job.outcome["not_found"] == ["No Such Band"]
    assert job.outcome["total"] == 5
    nirvana, genesis = job.outcome["ambiguous"]
    assert (nirvana["name"], genesis["name"]) == ("Nirvana", "Genesis")
    assert nirvana["candidates"][0] == {
        "mbid": NIRVANA_US,
        "name": "Nirvana",
        "sort_name": "Nirvana",
        "disambiguation": "90s US grunge band",
        "artist_type": "Group",
        "country": "US",
        "area": "United States",
        "begin": "1987",
        "end": "1994",
    }
    page = client.get(reverse("catalog:imports")).content.decode()
    # One form, one button, a fieldset per name, the best match picked.
    assert page.count('<form method="post" action="/library/import/') == 1
    assert page.count("Follow the chosen artists") == 1
    assert "Which “Nirvana”?" in page
    assert "Which “Genesis”?" in page
    assert f'value="{NIRVANA_US}" checked' in page
    assert f'value="{NIRVANA_UK}">' in page
    assert f'value="{GENESIS_UK}" checked' in page
    assert page.count(">None of these<") == 2
    assert "Group · United States · 1987\u20131994" in page
    assert "Group · United Kingdom · 1965\u2013" in page
    assert "Group · US" in page  # no area: the country code


def test_every_ambiguous_name_is_settled_by_one_post_without_asking_musicbrainz(client, user, upstream, redis_client):
    job = finished_import(user, upstream)
    requests_before = len(upstream.requests)

    response = resolve(client, job, {"Nirvana": NIRVANA_UK, "Genesis": ""}, follow=True)

    assert followed(user) == {"Sigur Rós", "Motörhead", "Nirvana"}
    assert Follow.objects.get(user=user, artist__name="Nirvana").artist.mbid == uuid.UUID(NIRVANA_UK)
    artist = Artist.objects.get(mbid=NIRVANA_UK)
    assert (artist.disambiguation, artist.country, artist.area, artist.begin) == (
        "60s UK band",
        "GB",
        "United Kingdom",
        "1965",
    )
    assert not Artist.objects.filter(mbid__in=[NIRVANA_US, GENESIS_UK, GENESIS_US]).exists()
    assert len(upstream.requests) == requests_before  # the candidate kept in the outcome is the artist
    assert queued_tasks(redis_client, "important").count("musicdrops.catalog.tasks.sync_artist_now_task") >= 1
    page = response.content.decode()
    assert "You follow Nirvana." in page
    assert "Left out: Genesis." in page
    assert "Which “" not in page
    job.refresh_from_db()
    assert job.outcome["ambiguous"] == []
    assert job.outcome["skipped"] == ["Genesis"]
    assert job.outcome["followed"][-1] == "Nirvana"


def test_an_artist_not_offered_for_that_name_is_a_clear_error_and_nothing_is_followed(client, user, upstream):
    job = finished_import(user, upstream)
    before = followed(user)

    for bad in (GENESIS_UK, "89ad4ac3-39f7-470e-963a-56509c546377", "not-an-id", "\x00"):
        response = resolve(client, job, {"Genesis": "", "Nirvana": bad}, follow=True)

        assert response.status_code == 200
        assert "Pick one of the artists offered for “Nirvana”" in response.content.decode()
    assert followed(user) == before
    job.refresh_from_db()
    assert [e["name"] for e in job.outcome["ambiguous"]] == ["Nirvana", "Genesis"]  # nothing settled, not even Genesis


def test_a_double_submit_settles_each_name_once(client, user, upstream):
    job = finished_import(user, upstream)

    resolve(client, job, {"Nirvana": NIRVANA_US, "Genesis": GENESIS_US})
    again = resolve(client, job, {"Nirvana": NIRVANA_UK, "Genesis": ""}, follow=True)

    assert "already settled" in again.content.decode()
    assert set(Follow.objects.filter(user=user).values_list("artist__mbid", flat=True)) >= {
        uuid.UUID(NIRVANA_US),
        uuid.UUID(GENESIS_US),
    }
    assert not Follow.objects.filter(user=user, artist__mbid=NIRVANA_UK).exists()
    job.refresh_from_db()
    assert job.outcome["followed"].count("Nirvana") == 1
    assert job.outcome.get("skipped", []) == []


def test_two_submits_at_once_settle_each_name_once(user, upstream):
    job = finished_import(user, upstream)
    results: list[services.ImportResolved] = []

    def submit(mbid: str) -> None:
        try:
            results.append(
                services.import_resolve(
                    user=user, job_id=job.pk, choices={"Nirvana": mbid}, queue_sync=lambda artist_id: None
                )
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(mbid,)) for mbid in (NIRVANA_US, NIRVANA_UK)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(len(r.followed) for r in results) == [0, 1]  # the row lock made them one after the other
    assert Follow.objects.filter(user=user, artist__name="Nirvana").count() == 1


def test_a_name_left_unanswered_stays_to_be_chosen(client, user, upstream):
    job = finished_import(user, upstream)

    resolve(client, job, {"Genesis": GENESIS_UK})

    job.refresh_from_db()
    assert [e["name"] for e in job.outcome["ambiguous"]] == ["Nirvana"]
    assert "Which “Nirvana”?" in client.get(reverse("catalog:imports")).content.decode()


def test_you_cannot_choose_for_someone_elses_import_nor_for_one_still_running(client, user, upstream):
    other = User.objects.create_user("other@example.com", "another-long-passphrase-1")
    offered = {"ambiguous": [{"name": "X", "candidates": [{"mbid": NIRVANA_US, "name": "X"}]}]}
    theirs = ImportJob.objects.create(user=other, source="names", query="X", status="done", outcome=offered)
    running = ImportJob.objects.create(user=user, source="names", query="X", status="running", outcome=offered)

    assert resolve(client, theirs, {"X": NIRVANA_US}).status_code == 404
    response = resolve(client, running, {"X": NIRVANA_US}, follow=True)
    assert "still running" in response.content.decode()
    assert Follow.objects.count() == 0


def test_an_outcome_stored_before_candidates_kept_their_facts_still_shows_and_resolves(client, user):
    old = {
        "pending": [],
        "followed": ["Sigur Rós"],
        "not_found": [],
        "ambiguous": [
            {
                "name": "Nirvana",
                "candidates": [
                    {"mbid": NIRVANA_US, "name": "Nirvana", "disambiguation": "90s US grunge band"},
                    {"mbid": NIRVANA_UK, "name": "Nirvana", "disambiguation": "60s UK band"},
                    {"mbid": GENESIS_UK},  # no name: never offered (an artist is named by MusicBrainz)
                ],
            }
        ],
    }
    job = ImportJob.objects.create(user=user, source="names", query="Sigur Rós\nNirvana", status="done", outcome=old)

    page = client.get(reverse("catalog:imports")).content.decode()
    assert "Which “Nirvana”?" in page
    assert f'value="{NIRVANA_US}" checked' in page
    assert "60s UK band" in page
    assert GENESIS_UK not in page
    assert "All done: 2 names matched: 1 followed, 1 to choose below." in page

    resolve(client, job, {"Nirvana": NIRVANA_UK})
    assert followed(user) == {"Nirvana"}
    assert Artist.objects.get(mbid=NIRVANA_UK).disambiguation == "60s UK band"
    assert resolve(client, job, {"Nirvana": GENESIS_UK}, follow=True).status_code == 200  # settled: nothing to do


def test_an_existing_artist_is_followed_as_it_is(client, user, upstream):
    job = finished_import(user, upstream)
    known = Artist.objects.create(
        mbid=NIRVANA_UK, name="Nirvana", disambiguation="kept as synced", synced_at=timezone.now()
    )

    resolve(client, job, {"Nirvana": NIRVANA_UK})

    assert Follow.objects.filter(user=user, artist=known).exists()
    known.refresh_from_db()
    assert known.disambiguation == "kept as synced"


def test_a_form_from_before_one_form_for_all_names_asks_to_choose_again(client, user, upstream):
    job = finished_import(user, upstream)

    response = client.post(reverse("catalog:import_choose", args=[job.pk]), {"name": "Nirvana", "mbid": NIRVANA_UK})

    assert response.status_code == 302
    assert "choose again" in client.get(response["Location"]).content.decode()
    assert "Nirvana" not in followed(user)


# --- the status a page polls ---------------------------------------------------------


def status_of(client, job: ImportJob):
    return client.get(reverse("catalog:import_status", args=[job.pk]), {"nonce": "abc123"})


def test_only_the_owner_reads_an_imports_status_and_no_cache_may_keep_it(client, user):
    job = ImportJob.objects.create(user=user, source="names", query="Sigur Rós")
    other = User.objects.create_user("other@example.com", "another-long-passphrase-1")
    theirs = ImportJob.objects.create(user=other, source="names", query="Sigur Rós")

    mine = status_of(client, job)
    assert mine.status_code == 200
    cache_control = {part.strip() for part in mine["Cache-Control"].split(",")}
    assert {"no-store", "no-cache", "max-age=0", "must-revalidate", "private"} <= cache_control
    assert mine["Pragma"] == "no-cache"
    assert "ETag" not in mine

    for response in (status_of(client, theirs), status_of(Client(), job)):  # another's, and logged out
        assert response.status_code == 404
        assert response.json() == {"error": "No such import"}  # JSON, not a login page
        assert "no-store" in response["Cache-Control"]


def test_the_status_says_in_words_how_far_the_import_is(client, user, upstream):
    job = services.import_start(
        queue_import=tasks.queue_import, user=user, source="names", query="Sigur Rós\nNirvana\nGenesis\nNo Such Band"
    )
    assert status_of(client, job).json() == {
        "id": str(job.pk),
        "state": "PENDING",
        "done": False,
        "message": "Waiting for a free worker…",
        "progress": None,
        "finished_at": None,
    }

    same_names(upstream)
    ImportJob.objects.filter(pk=job.pk).update(status="running")
    assert status_of(client, job).json()["message"] == "Starting…"
    while run(job, seconds=0.0001) and ImportJob.objects.get(pk=job.pk).outcome["pending"] != ["No Such Band"]:
        pass
    body = status_of(client, job).json()
    assert body["state"] == "PROGRESS"
    assert body["done"] is False
    assert body["message"] == "Matched 3 of 4 names on MusicBrainz: 1 followed, 2 to choose, 0 not found…"
    assert body["progress"] == 75

    while run(job):
        pass
    body = status_of(client, job).json()
    assert body["state"] == "SUCCESS"
    assert body["done"] is True
    assert body["progress"] == 100
    assert body["message"] == "All done: 4 names matched: 1 followed, 2 to choose below, 1 not found."
    assert body["finished_at"]


def test_the_percent_counts_listenbrainz_artists_followed_at_once(client, user, upstream):
    Artist.objects.create(mbid=SIGUR_ROS, name="Sigur Rós")
    job = services.import_start(queue_import=tasks.queue_import, user=user, source="listenbrainz", query="rob")

    run(job, seconds=0)  # ListenBrainz read, no name matched yet

    job.refresh_from_db()
    assert job.outcome["total"] == 4  # Sigur Rós followed at once, three to look up or search
    body = status_of(client, job).json()
    assert body["message"] == "Matched 1 of 4 artists on MusicBrainz: 1 followed, 0 to choose, 0 not found…"
    assert body["progress"] == 25


def test_a_failed_import_ends_as_a_failure_with_its_reason(client, user, upstream):
    job = services.import_start(queue_import=tasks.queue_import, user=user, source="listenbrainz", query="nobody-here")

    run(job)

    body = status_of(client, job).json()
    assert body["state"] == "FAILURE"
    assert body["done"] is True
    assert "ListenBrainz user" in body["message"]


def test_the_page_watches_a_running_import_and_reloads_itself_only_without_javascript(client, user):
    job = ImportJob.objects.create(user=user, source="names", query="Sigur Rós\nNirvana", status="running")

    response = client.get(reverse("catalog:imports"))
    page = response.content.decode()

    assert 'data-testid="task-status"' in page
    assert f'data-status-url="/library/import/{job.pk}/status/"' in page
    assert f'data-done-refresh="import-{job.pk}"' in page
    assert f'<article class="job" id="import-{job.pk}">' in page
    assert '<noscript><meta http-equiv="refresh"' in page
    assert "no-store" in response["Cache-Control"]

    ImportJob.objects.filter(pk=job.pk).update(status="done")
    page = client.get(reverse("catalog:imports")).content.decode()
    assert 'data-state="SUCCESS"' in page
    assert "data-status-url" not in page
    assert "<noscript>" not in page


def test_a_long_list_continues_in_slices_and_a_second_delivery_does_nothing_twice(user, upstream):
    job = services.import_start(
        queue_import=tasks.queue_import, user=user, source="names", query="Sigur Rós\nMotörhead\n坂本龍一"
    )

    assert run(job, seconds=0) is True  # out of time at once: more to do, progress saved
    # While one delivery holds the lease, a second one does nothing at all.
    ImportJob.objects.filter(pk=job.pk).update(leased_until=timezone.now() + dt.timedelta(minutes=1))
    nobody: Any = None  # a second delivery must not reach the clients at all
    assert (
        services.import_run(job_id=job.pk, mb_client=nobody, lb_client=nobody, queue_sync=tasks.queue_artist_sync)
        is False
    )
    ImportJob.objects.filter(pk=job.pk).update(leased_until=None)
    while run(job, seconds=0.0001):
        pass

    job.refresh_from_db()
    assert job.status == "done"
    assert sorted(job.outcome["followed"]) == sorted(["Sigur Rós", "Motörhead", "坂本龍一"])
    assert len(upstream.requests_to("/ws/2/artist", subject="search")) == 3


def client_options(upstream) -> dict[str, Any]:
    return {
        "base_url": upstream.musicbrainz_url,
        "user_agent": "MusicDrops-tests/1 ( test@example.com )",
        "rate_limiter": musicbrainz.default_client().rate_limiter,
        "sleep": lambda seconds: None,
    }


class DownFor(musicbrainz.MusicBrainzClient):
    """MusicBrainz answering until it is asked about ``name``: then down, as after the client's own retries."""

    def __init__(self, name: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.down_for = name

    def search_artists(self, query: str, *, limit: int = 25) -> list[musicbrainz.ArtistHit]:
        if query == self.down_for:
            raise musicbrainz.MusicBrainzError("GET /ws/2/artist failed after 3 attempts: ConnectionError: refused")
        return super().search_artists(query, limit=limit)


def test_musicbrainz_down_stops_the_import_at_once_saying_so_and_keeps_what_it_matched(user, upstream):
    client = DownFor("Motörhead", **client_options(upstream))
    job = services.import_start(
        queue_import=tasks.queue_import, user=user, source="names", query="Sigur Rós\nMotörhead\nAC/DC"
    )

    more = services.import_run(
        job_id=job.pk, mb_client=client, lb_client=listenbrainz.default_client(), queue_sync=tasks.queue_artist_sync
    )

    job.refresh_from_db()
    assert more is False  # no retrying for minutes behind a progress bar
    assert job.status == "failed"
    assert "MusicBrainz isn't answering" in job.message
    assert "after 1 of 3" in job.message
    assert followed(user) == {"Sigur Rós"}
    status = import_selectors.import_status(job=job)
    assert (status.state, status.done) == ("FAILURE", True)
    assert services.import_leftovers(job=job) == ["Motörhead", "AC/DC"]


def test_try_again_imports_the_names_a_failed_import_never_got_to(client, user, upstream):
    job = services.import_start(
        queue_import=tasks.queue_import, user=user, source="names", query="Sigur Rós\nMotörhead"
    )
    ImportJob.objects.filter(pk=job.pk).update(
        status="failed", outcome={"total": 2, "pending": ["Motörhead"], "followed": ["Sigur Rós"]}
    )

    page = client.get(reverse("catalog:imports")).content.decode()
    assert "Try this name again" in page
    response = client.post(reverse("catalog:import_retry", args=[job.pk]))

    assert response.status_code == 302
    again = ImportJob.objects.exclude(pk=job.pk).get()
    assert (again.source, again.query, again.status) == ("names", "Motörhead", "pending")
    run(again)
    assert "Motörhead" in followed(user)


def test_its_owner_cancels_a_running_import_and_it_stops_before_the_next_name(client, user, upstream):
    job = services.import_start(
        queue_import=tasks.queue_import, user=user, source="names", query="Sigur Rós\nMotörhead\nAC/DC"
    )

    class CancelAfterFirst(musicbrainz.MusicBrainzClient):
        def search_artists(self, query: str, *, limit: int = 25) -> list[musicbrainz.ArtistHit]:
            hits = super().search_artists(query, limit=limit)
            if query == "Sigur Rós":  # the owner presses "Cancel" while the first name is being matched
                assert client.post(reverse("catalog:import_cancel", args=[job.pk])).status_code == 302
            return hits

    mb = CancelAfterFirst(**client_options(upstream))
    more = services.import_run(
        job_id=job.pk, mb_client=mb, lb_client=listenbrainz.default_client(), queue_sync=tasks.queue_artist_sync
    )

    job.refresh_from_db()
    assert more is False
    assert job.status == "canceled"
    assert job.outcome["followed"] == ["Sigur Rós"]  # what it matched stays
    assert len(upstream.requests_to("/ws/2/artist", subject="search")) == 1
    status = import_selectors.import_status(job=job)
    assert (status.state, status.done) == ("REVOKED", True)
    assert status.message.startswith("Cancelled after matching 1 of 3 names")
    assert services.import_leftovers(job=job) == ["Motörhead", "AC/DC"]


def test_nobody_else_can_cancel_an_import(client, user, django_user_model):
    job = services.import_start(queue_import=tasks.queue_import, user=user, source="names", query="Sigur Rós")
    other = django_user_model.objects.create_user("other@example.com", "pw-other-1234")
    client.force_login(other)

    assert client.post(reverse("catalog:import_cancel", args=[job.pk])).status_code == 404
    assert client.get(reverse("catalog:import_cancel", args=[job.pk])).status_code == 405
    job.refresh_from_db()
    assert job.status == "pending"


@pytest.mark.parametrize("query", ["", "   ", "a/b", "x" * 65])
def test_bad_listenbrainz_names_are_refused_in_the_form(client, user, query):
    response = client.post(reverse("catalog:imports"), {"username": query})

    assert response.status_code == 200
    assert ImportJob.objects.count() == 0


def test_too_many_names_are_refused(user):
    with pytest.raises(services.FollowError, match="at most"):
        services.import_start(
            queue_import=tasks.queue_import, user=user, source="names", query="\n".join(f"Band {n}" for n in range(501))
        )


def test_a_spoofed_listenbrainz_name_never_names_the_artist_musicbrainz_does(client, user, upstream):
    from musicdrops.catalog import sync
    from musicdrops.catalog.models import Artist
    from musicdrops.drops.preview import drop_status
    from tests.catalog.upstream import listenbrainz_artist, release_group

    today = timezone.localdate()
    real = upstream.add_artist("The Real Artist")
    upstream.set_release_groups(real, [release_group("Real Album", date=f"{today:%Y-%m-%d}")])
    spoof = "The Real Artist - claim your prize at https://evil.example/"
    upstream.set_top_artists("mallory", [listenbrainz_artist(spoof, 999, mbid=real)])

    job = services.import_start(
        queue_import=tasks.queue_import, user=user, source=ImportJob.Source.LISTENBRAINZ, query="mallory"
    )
    while run(job):
        pass
    artist = Artist.objects.get(mbid=real)
    sync.artist_sync(artist_id=artist.pk, client=musicbrainz.default_client())

    assert Artist.objects.get(mbid=real).name == "The Real Artist"
    assert upstream.requests_to(f"/ws/2/artist/{real}")  # named by a MusicBrainz lookup
    for page in (reverse("catalog:library"), reverse("catalog:imports"), reverse("front:dashboard")):
        body = client.get(page).content.decode()
        assert "evil.example" not in body, page
    assert "The Real Artist" in client.get(reverse("catalog:library")).content.decode()
    preview = drop_status(user=user, now=timezone.now()).preview
    assert preview is not None
    assert "The Real Artist" in preview.text
    assert "The Real Artist" in preview.html
    assert "evil.example" not in preview.text + preview.html


def test_one_import_at_a_time_per_account(user):
    services.import_start(queue_import=tasks.queue_import, user=user, source="names", query="Sigur Rós")

    with pytest.raises(services.FollowError, match="still running"):
        services.import_start(queue_import=tasks.queue_import, user=user, source="listenbrainz", query="rob")
    assert ImportJob.objects.filter(user=user).count() == 1


def test_an_account_may_book_a_thousand_names_a_day_of_the_shared_musicbrainz_budget(user):
    lists = ["\n".join(f"Band {n}-{k}" for k in range(400)) for n in range(3)]
    for names in lists[:2]:
        services.import_start(queue_import=tasks.queue_import, user=user, source="names", query=names)
        ImportJob.objects.filter(user=user).update(status=ImportJob.Status.DONE)

    with pytest.raises(services.FollowError, match="more than 1000 artists imported in a day; 200 more are possible"):
        services.import_start(queue_import=tasks.queue_import, user=user, source="names", query=lists[2])

    ImportJob.objects.filter(user=user).update(created_at=timezone.now() - dt.timedelta(days=1, minutes=1))
    services.import_start(queue_import=tasks.queue_import, user=user, source="names", query=lists[2])  # a day later


def test_an_account_may_start_five_imports_an_hour(user):
    for n in range(5):
        services.import_start(queue_import=tasks.queue_import, user=user, source="names", query=f"Band {n}")
        ImportJob.objects.filter(user=user).update(status=ImportJob.Status.DONE)

    with pytest.raises(services.FollowError, match=r"5 imports in an hour.*possible in 60 minutes"):
        services.import_start(queue_import=tasks.queue_import, user=user, source="names", query="Band 6")

    first = ImportJob.objects.filter(user=user).earliest("created_at")
    ImportJob.objects.filter(pk=first.pk).update(created_at=timezone.now() - dt.timedelta(hours=1, seconds=1))
    services.import_start(queue_import=tasks.queue_import, user=user, source="names", query="Band 6")


def test_the_import_page_says_why_a_second_import_waits(client, user):
    client.post(reverse("catalog:imports"), {"names": "Sigur Rós"})
    page = client.post(reverse("catalog:imports"), {"names": "Nirvana"})

    assert page.status_code == 200
    assert "Your last import is still running" in page.content.decode()
    assert ImportJob.objects.filter(user=user).count() == 1


def test_followed_names_link_to_the_artist_page_unless_two_followed_artists_share_the_name(client, user):
    mbids = ["00000000-0000-4000-8000-0000000000f1", "00000000-0000-4000-8000-0000000000f2"]
    one = Artist.objects.create(mbid="00000000-0000-4000-8000-0000000000f0", name="Lumen Choir")
    twins = [Artist.objects.create(mbid=mbid, name="Halcyon") for mbid in mbids]
    for artist in (one, *twins):
        Follow.objects.create(user=user, artist=artist)
    ImportJob.objects.create(
        user=user, source="names", query="Lumen Choir\nHalcyon\nGone", status="done",
        outcome={"total": 3, "pending": [], "followed": ["Lumen Choir", "Halcyon", "Gone"], "not_found": []},
    )  # fmt: skip

    page = client.get(reverse("catalog:imports")).content.decode()

    assert f'<a href="/artists/{one.mbid}/">Lumen Choir</a>, Halcyon, Gone</p>' in page
