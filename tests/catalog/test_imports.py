import datetime as dt
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog import listenbrainz, musicbrainz, services, tasks
from musicdrops.catalog.models import Follow, ImportJob
from tests.catalog.upstream import garbage
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


def test_a_pasted_list_is_matched_and_ambiguous_names_wait_for_the_user(client, user, upstream):
    upstream.add_artist("Nirvana", disambiguation="90s US grunge band")
    upstream.add_artist("Nirvana", mbid="11111111-2222-4333-8444-555555555555", disambiguation="60s UK band")
    job = services.import_start(
        queue_import=tasks.queue_import,
        user=user,
        source="names",
        query="Sigur Rós\n  motörhead \n\nNirvana\nNo Such Band\n",
    )

    run(job)

    job.refresh_from_db()
    assert followed(user) == {"Sigur Rós", "Motörhead"}
    assert job.outcome["not_found"] == ["No Such Band"]
    [ambiguous] = job.outcome["ambiguous"]
    assert {c["disambiguation"] for c in ambiguous["candidates"]} == {"90s US grunge band", "60s UK band"}
    page = client.get(reverse("catalog:imports")).content.decode()
    assert "Which “Nirvana”?" in page

    chosen = "11111111-2222-4333-8444-555555555555"
    client.post(reverse("catalog:import_choose", args=[job.pk]), {"name": "Nirvana", "mbid": chosen})

    assert "Nirvana" in followed(user)
    job.refresh_from_db()
    assert job.outcome["ambiguous"] == []


def test_you_cannot_choose_for_someone_elses_import_or_an_artist_not_offered(client, user, upstream):
    other = User.objects.create_user("other@example.com", "another-long-passphrase-1")
    theirs = ImportJob.objects.create(user=other, source="names", query="x", outcome={"ambiguous": []})
    mine = ImportJob.objects.create(
        user=user,
        source="names",
        query="x",
        outcome={"ambiguous": [{"name": "X", "candidates": [{"mbid": "11111111-2222-4333-8444-555555555555"}]}]},
    )

    assert client.post(reverse("catalog:import_choose", args=[theirs.pk]), {"name": "X"}).status_code == 404
    response = client.post(
        reverse("catalog:import_choose", args=[mine.pk]),
        {"name": "X", "mbid": "89ad4ac3-39f7-470e-963a-56509c546377"},
        follow=True,
    )
    assert "Pick one of the artists offered" in response.content.decode()
    assert Follow.objects.count() == 0


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


def test_musicbrainz_down_pauses_the_import_without_losing_names(user, upstream):
    upstream.always("search", garbage())
    quick = musicbrainz.MusicBrainzClient(
        base_url=upstream.musicbrainz_url,
        user_agent="MusicDrops-tests/1 ( test@example.com )",
        rate_limiter=musicbrainz.default_client().rate_limiter,
        sleep=lambda seconds: None,
    )
    job = services.import_start(
        queue_import=tasks.queue_import, user=user, source="names", query="Sigur Rós\nMotörhead"
    )

    more = services.import_run(
        job_id=job.pk, mb_client=quick, lb_client=listenbrainz.default_client(), queue_sync=tasks.queue_artist_sync
    )

    job.refresh_from_db()
    assert more is True
    assert job.outcome["pending"] == ["Sigur Rós", "Motörhead"]
    upstream.always("search", None)
    run(job)
    job.refresh_from_db()
    assert followed(user) == {"Sigur Rós", "Motörhead"}


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
