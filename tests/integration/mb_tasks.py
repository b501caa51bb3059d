"""A task for the MusicBrainz rate-limit test: browse artists' release groups through the real client.

Loaded into a real worker with ``--include tests.integration.mb_tasks``. It
records which processes ran it in Redis, so the test can tell the work was
really spread over both workers.
"""

import os

from celery import shared_task

from musicdrops.catalog import musicbrainz
from musicdrops.redis_client import get_client


@shared_task(name="tests.browse_release_groups")
def browse_release_groups_task(artist_mbids: list[str], key: str) -> None:
    redis = get_client()
    redis.sadd(f"{key}:pids", os.getpid())
    # The pool child's parent is the worker's main process: one per worker.
    redis.sadd(f"{key}:workers", os.getppid())
    client = musicbrainz.default_client()
    try:
        for mbid in artist_mbids:
            client.browse_release_groups(mbid)
    except Exception as exc:
        # Make a failure visible to the test at once instead of as a timeout.
        redis.rpush(f"{key}:errors", repr(exc))
        raise
    finally:
        redis.incrby(f"{key}:requests", client.requests_made)
    redis.incr(f"{key}:done")


@shared_task(name="tests.search_release_groups")
def search_release_groups_task(artist_mbids: list[str], key: str) -> None:
    """One batched release-group search of these artists, every page, through the real client."""
    import datetime as dt

    redis = get_client()
    redis.sadd(f"{key}:pids", os.getpid())
    redis.sadd(f"{key}:workers", os.getppid())
    client = musicbrainz.default_client()
    try:
        for _ in client.search_release_groups(artist_mbids, start=dt.date(2026, 1, 1), end=dt.date(2027, 12, 31)):
            pass
    except Exception as exc:
        redis.rpush(f"{key}:errors", repr(exc))
        raise
    finally:
        redis.incrby(f"{key}:requests", client.requests_made)
    redis.incr(f"{key}:done")
