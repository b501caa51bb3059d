"""Two real workers, four pool processes, one MusicBrainz budget: never two requests within a second."""

import datetime as dt
import itertools
import re
import time

import pytest
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog.models import Artist, Follow, ReleaseGroup
from musicdrops.celery import app
from tests.catalog.upstream import fixture_mbid, many_release_groups, parse_release_group_query, release_group, serve
from tests.integration.processes import procfile, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

KEY = "mb-rate-limit"
SUCCEEDED = re.compile(r"sync_stale_artists_task\[[^\]]+\] succeeded in")


def test_two_workers_share_one_musicbrainz_rate_limit(start_process, redis_client):
    # Five artists of 150 release groups: two pages each, ten requests in all,
    # one task per artist so every pool process of both workers has work at once.
    artists = [fixture_mbid("rate-limit", str(n)) for n in range(5)]
    with serve() as server:
        for mbid in artists:
            server.set_release_groups(mbid, many_release_groups(150, seed=mbid))
        command = procfile()["worker-regular"] + " --include tests.integration.mb_tasks"
        workers = [
            start_process("worker-regular", command=command, MUSICBRAINZ_URL=server.musicbrainz_url) for _ in range(2)
        ]
        for worker in workers:
            worker.wait_for("ready.")

        started = time.monotonic()
        for mbid in artists:
            app.send_task("tests.browse_release_groups", args=[[mbid], KEY], queue="regular")

        def finished() -> bool:
            return int(redis_client.get(f"{KEY}:done") or 0) == len(artists) or bool(redis_client.llen(f"{KEY}:errors"))

        wait_until(finished, 60, "every task to finish", *workers)
        duration = time.monotonic() - started
        requests = server.requests

    assert redis_client.lrange(f"{KEY}:errors", 0, -1) == []
    arrivals = sorted(r.arrived for r in requests)
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    pids = redis_client.smembers(f"{KEY}:pids")
    parents = {int(pid) for pid in redis_client.smembers(f"{KEY}:workers")}
    print(
        f"{len(requests)} requests from {len(pids)} processes in {len(parents)} workers "
        f"in {duration:.2f} s; min gap {min(gaps):.3f} s, mean gap {sum(gaps) / len(gaps):.3f} s"
    )
    assert len(requests) == 10 == int(redis_client.get(f"{KEY}:requests") or 0)
    assert len(server.browse_requests()) == 10
    assert min(gaps) >= 0.95
    assert len(pids) >= 2
    assert parents == {worker.pid for worker in workers}  # both workers took part


def test_a_persons_search_goes_ahead_of_two_busy_workers_within_the_budget(start_process, redis_client):
    # Two workers keep the budget busy with paged searches and browses (about 14 s of
    # requests); meanwhile people search artists from this process, as the web does.
    artists = [fixture_mbid("lane", str(n)) for n in range(4)]
    with serve() as server:
        for mbid in artists:
            server.set_release_groups(mbid, many_release_groups(150, seed=mbid))
        command = procfile()["worker-regular"] + " --include tests.integration.mb_tasks"
        workers = [
            start_process("worker-regular", command=command, MUSICBRAINZ_URL=server.musicbrainz_url) for _ in range(2)
        ]
        for worker in workers:
            worker.wait_for("ready.")
        for mbid in artists:
            app.send_task("tests.browse_release_groups", args=[[mbid], KEY], queue="regular")
        app.send_task("tests.search_release_groups", args=[artists, KEY], queue="regular")
        wait_until(lambda: len(server.requests) >= 3, 30, "the workers to start", *workers)

        from django.test import override_settings

        from musicdrops.catalog.musicbrainz import default_client

        waits = []
        with override_settings(MUSICBRAINZ_URL=server.musicbrainz_url):
            for n in range(4):
                started = time.monotonic()
                default_client(interactive=True).search_artists(f"nobody {n}")
                waits.append(time.monotonic() - started)
                time.sleep(1.5)

        def finished() -> bool:
            return int(redis_client.get(f"{KEY}:done") or 0) == len(artists) + 1 or bool(
                redis_client.llen(f"{KEY}:errors")
            )

        wait_until(finished, 90, "every task to finish", *workers)
        requests = list(server.requests)

    assert redis_client.lrange(f"{KEY}:errors", 0, -1) == []
    arrivals = sorted(r.arrived for r in requests)
    people = [r.arrived for r in requests if r.subject == "search"]
    print(f"{len(requests)} requests; people waited {', '.join(f'{w * 1000:.0f}' for w in waits)} ms")
    assert len(people) == 4
    assert max(waits) < 0.5  # not the ~1-2 s of queueing behind the workers
    # The budget holds: in any 10 s, at most 10 requests plus the lane's burst.
    for n, first in enumerate(arrivals):
        assert sum(1 for t in arrivals[n:] if t < first + 10) <= 10 + 5
    background = [r.arrived for r in requests if r.subject != "search"]
    assert len(background) == 8 + 1  # 4 browses of two pages, a search of one (nothing in its dates)


def test_two_workers_running_the_discovery_task_share_the_budget_and_split_the_batches(start_process, redis_client):
    # 400 followed artists already browsed: the periodic task's work is the batched
    # searches, 5 near-window and 5 far-window batches of 96 (one near page more for
    # the artist with 150 new releases). Both workers run the real task at once.
    today = timezone.now().date()
    fan = User.objects.create(email="fan@example.com", email_verified_at=timezone.now())
    mbids = [fixture_mbid("discovery-workers", str(n)) for n in range(400)]
    browsed = timezone.now() - dt.timedelta(hours=1)
    artists = Artist.objects.bulk_create([Artist(mbid=m, name=m[:8], synced_at=browsed) for m in mbids])
    Follow.objects.bulk_create([Follow(user=fan, artist=a) for a in artists])
    new = {mbids[7]: 150, mbids[250]: 1, mbids[399]: 1}
    with serve() as server:
        for mbid, count in new.items():
            groups = [release_group(f"New {mbid[:8]} {n}", date=today.isoformat()) for n in range(count)]
            server.set_release_groups(mbid, groups, indexed=True)
        workers = [
            start_process("worker-regular", MUSICBRAINZ_URL=server.musicbrainz_url, REGULAR_CONCURRENCY="1")
            for _ in range(2)
        ]
        for worker in workers:
            worker.wait_for("ready.")
        for _ in workers:
            app.send_task("musicdrops.catalog.tasks.sync_stale_artists_task", queue="regular")

        def finished() -> bool:
            return sum(len(SUCCEEDED.findall(w.output())) for w in workers) == 2

        wait_until(finished, 90, "both discovery tasks to finish", *workers)
        requests = list(server.requests)

    arrivals = sorted(r.arrived for r in requests)
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    searched: dict[str, list[str]] = {}
    for request in requests:
        parsed = parse_release_group_query(request.param("query") or "")
        assert not isinstance(parsed, str), parsed
        ids, start, _ = parsed
        window = "near" if start is not None and start <= today.isoformat() else "far"
        if request.param("offset") == "0":
            for mbid in ids:
                searched.setdefault(f"{window} {mbid}", []).append(request.path)
    print(f"{len(requests)} requests in {arrivals[-1] - arrivals[0]:.1f} s; min gap {min(gaps):.3f} s")
    assert all(r.subject == "release-group-search" for r in requests)
    assert len(searched) == 800  # every artist in both windows
    assert all(len(paths) == 1 for paths in searched.values())  # each once
    assert len(requests) == 10 + 1
    assert min(gaps) >= 0.95
    assert ReleaseGroup.objects.filter(title__startswith="New ").count() == 152
    assert [len(SUCCEEDED.findall(w.output())) for w in workers] == [1, 1]  # each worker ran one
