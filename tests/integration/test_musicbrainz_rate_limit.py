"""Two real workers, four pool processes, one MusicBrainz budget: never two requests within a second."""

import itertools
import time

import pytest

from musicdrops.celery import app
from tests.catalog.upstream import fixture_mbid, many_release_groups, serve
from tests.integration.processes import procfile, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

KEY = "mb-rate-limit"


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
