"""Syncing many artists: requests made against the pages needed, and database queries, per artist.

    python -m bench.catalog_sync --artists 1000

Runs the real sync (bulk upserts under leases) against the local MusicBrainz
replay server used by the tests, with the shared rate limit raised so the
figures measure our work, not the 1 request/s courtesy pause.
"""

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    """Production settings on the benchmarks' own database (musicdrops_bench) and Redis database 14, migrated."""
    os.environ.setdefault("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/musicdrops_bench")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-not-used-for-anything-real-0123456789")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "musicdrops.settings")
    sys.path.insert(0, str(ROOT))
    from bench.daily_send import ensure_database

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artists", type=int, default=1000)
    args = parser.parse_args()
    setup_django()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from musicdrops.accounts.models import User
    from musicdrops.catalog import musicbrainz, sync
    from musicdrops.catalog.models import Artist, Follow, ReleaseGroup
    from tests.catalog.upstream import fixture_mbid, many_release_groups, serve

    sizes = [[0, 1, 40, 99, 100, 101, 250][n % 7] for n in range(args.artists)]
    with serve() as server:
        settings.MUSICBRAINZ_URL = server.musicbrainz_url
        settings.MUSICBRAINZ_REQUESTS_PER_SECOND = 10_000.0
        user, _ = User.objects.get_or_create(email="catalog-bench@example.com")
        mbids = [fixture_mbid("bench-artist", str(n)) for n in range(args.artists)]
        ReleaseGroup.objects.filter(artists__mbid__in=mbids).delete()
        Artist.objects.filter(mbid__in=mbids).delete()
        for n, (mbid, size) in enumerate(zip(mbids, sizes, strict=True)):
            server.set_release_groups(mbid, many_release_groups(size, seed=f"bench-{n}"))
        artists = Artist.objects.bulk_create([Artist(mbid=m, name=f"Bench {n}") for n, m in enumerate(mbids)])
        Follow.objects.bulk_create([Follow(user=user, artist=a) for a in artists])

        client = musicbrainz.default_client()
        queries: list[int] = []
        began = time.monotonic()
        for artist in artists:
            with CaptureQueriesContext(connection) as captured:
                sync.artist_sync(artist_id=artist.pk, client=client)
            queries.append(len(captured))
        seconds = time.monotonic() - began
        needed = sum(1 + max(1, math.ceil(size / 100)) for size in sizes)  # the lookup, then the pages
        stored = ReleaseGroup.objects.filter(artists__mbid__in=mbids).count()

    print(f"catalog sync — {args.artists} artists, {sum(sizes)} release groups (0 to 250 per artist), PostgreSQL")
    print(f"  requests: {client.requests_made} made, {needed} needed by the lookups and the pages (limit=100)")
    print(
        f"  queries per artist: median {statistics.median(queries):.0f}, max {max(queries)}, "
        f"for 0 release groups {queries[0]}, for 250 {queries[6]}"
    )
    print(f"  {stored} release groups stored; {seconds:.1f} s ({seconds / args.artists * 1000:.1f} ms per artist)")
    return 0 if client.requests_made == needed and stored == sum(sizes) else 1


if __name__ == "__main__":
    sys.exit(main())
