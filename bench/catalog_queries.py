"""The sync's and the searches' per-tick queries at a million followed artists (part of `make bench-scale`).

Seeds followed artists with MusicBrainz-issued ids up to ``--artists``, in the state a busy sync leaves them,
then calls the functions each tick of `sync-stale-artists` calls, as it calls them, in three states: a backlog
(about half the artists due), caught up (none due: the tick's last claim, which finds nothing), and after a large
import (a tenth of the artists never synced, in a transaction rolled back at the end). For each it prints the
median and the most over several runs and the top of EXPLAIN ANALYZE's plan.

    python -m bench.scale --only catalog --artists 1000000
"""

import datetime as dt
import inspect
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

BAR_MS = 50
FOLLOWS_PER_FOLLOWER = 1_000
SEED_BATCH = 10_000  # artists per transaction: memory stays flat however many are asked for
NEW_SHARE = 0.001  # followed, never synced nor searched yet
IMPORTED_SHARE = 10  # after a large import, one artist in this many is new: never synced nor searched
WANTED_SHARE = 0.0001  # a search asked for a browse
LEASED_SHARE = 0.0001  # a sync is fetching it right now


def followed_artists() -> int:
    from musicdrops.catalog import discovery
    from musicdrops.catalog.models import Artist

    return Artist.objects.filter(discovery.followed(), discovery.issued_by_musicbrainz()).count()


def catalogue_seed(*, artists: int) -> dict[str, float]:
    """Followed artists with MusicBrainz's ids up to ``artists`` (idempotent), in batches, then VACUUM ANALYZE."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone

    from musicdrops.accounts.models import User
    from musicdrops.catalog.models import Artist, Follow

    began = time.monotonic()
    have = followed_artists()
    now = timezone.now()
    rng = random.Random(have)  # noqa: S311 - a reproducible spread of due times, not a secret
    unusable = make_password(None)
    for first in range(have, artists, SEED_BATCH):
        count = min(SEED_BATCH, artists - first)
        with transaction.atomic():
            rows = Artist.objects.bulk_create([artist_row(first + n, now, rng) for n in range(count)], batch_size=2_000)
            emails = [follower_email(first + n) for n in range(count)]
            # Not fans: they follow the catalogue without being sent anything, so the send's figures stay its own.
            User.objects.bulk_create(
                [User(email=email, password=unusable, receives_drops=False) for email in sorted(set(emails))],
                ignore_conflicts=True,
            )
            followers = dict(User.objects.filter(email__in=set(emails)).values_list("email", "pk"))
            Follow.objects.bulk_create(
                [
                    Follow(user_id=followers[email], artist_id=artist.pk)
                    for email, artist in zip(emails, rows, strict=True)
                ],
                batch_size=2_000,
            )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE catalog_artist, catalog_follow, accounts_user")
    return {"before": have, "seconds": time.monotonic() - began}


def follower_email(artist_number: int) -> str:
    return f"catalog-follower-{artist_number // FOLLOWS_PER_FOLLOWER}@bench.example"


def artist_row(number: int, now: dt.datetime, rng: random.Random) -> Any:
    """One artist as a busy sync leaves it: browsed within two days, its searches due from a day ago to later."""
    from musicdrops.catalog.models import Artist

    artist = Artist(mbid=uuid.uuid4(), name=f"Scale Artist {number}", created_at=now - dt.timedelta(days=30))
    if rng.random() < NEW_SHARE:
        return artist
    day = 86_400
    artist.synced_at = now - dt.timedelta(seconds=rng.uniform(0, 2 * day))
    artist.search_due_at = now + dt.timedelta(seconds=rng.uniform(-day, 3_000))
    artist.searched_at = artist.search_due_at - dt.timedelta(seconds=3_000)
    artist.far_search_due_at = now + dt.timedelta(seconds=rng.uniform(-day, day))
    if rng.random() < WANTED_SHARE:
        artist.browse_wanted_at = now - dt.timedelta(seconds=rng.uniform(0, 3_600))
    if rng.random() < LEASED_SHARE:
        artist.sync_leased_until = now + dt.timedelta(minutes=5)
    return artist


def tick_queries() -> dict[str, Callable[[dt.datetime], Any]]:
    """What one tick of the periodic sync selects, as it calls it (the limits it passes included)."""
    from django.utils import timezone

    from musicdrops.catalog import discovery, musicbrainz, sync

    client = musicbrainz.default_client()
    today = timezone.localdate()
    near = discovery.batch_size(client=client, window=discovery.NEAR, today=today)
    far = discovery.batch_size(client=client, window=discovery.FAR, today=today)
    browses = inspect.signature(sync.stale_artists_sync).parameters["max_artists"].default
    return {
        f"urgent_artist_ids(limit={browses})": lambda now: sync.urgent_artist_ids(limit=browses, now=now),
        f"batch_claim(NEAR, limit={near})": lambda now: discovery.batch_claim(
            window=discovery.NEAR, now=now, limit=near
        ),
        f"batch_claim(FAR, limit={far})": lambda now: discovery.batch_claim(window=discovery.FAR, now=now, limit=far),
        f"stale_artist_ids(limit={browses})": lambda now: sync.stale_artist_ids(limit=browses, now=now),
    }


def caught_up_moment() -> dt.datetime:
    """A moment at which no synced artist is due for a search or a browse: the state the tick's last claim meets."""
    from django.conf import settings
    from django.db.models import Min

    from musicdrops.catalog.models import Artist

    first = Artist.objects.aggregate(synced=Min("synced_at"), near=Min("search_due_at"), far=Min("far_search_due_at"))
    browse_after = dt.timedelta(seconds=settings.CATALOG_BROWSE_AFTER_SECONDS)
    earliest: dt.datetime = min(first["synced"] + browse_after, first["near"], first["far"])
    return earliest - dt.timedelta(hours=1)


@contextmanager
def after_a_large_import() -> Iterator[None]:
    """A tenth of the artists never synced nor searched, as a large import leaves them, analysed; rolled back after."""
    from django.db import connection, transaction
    from django.db.models import F

    from musicdrops.catalog.models import Artist

    with transaction.atomic():
        Artist.objects.alias(slot=F("pk") % IMPORTED_SHARE).filter(slot=0).update(
            synced_at=None, search_due_at=None, far_search_due_at=None, searched_at=None, browse_wanted_at=None
        )
        with connection.cursor() as cursor:
            # What autovacuum does soon after such an import: the planner sees the new spread.
            cursor.execute("ANALYZE catalog_artist")
        yield
        transaction.set_rollback(True)


def measure(call: Callable[[dt.datetime], Any], now: dt.datetime, runs: int) -> dict[str, Any]:
    """Time ``call`` ``runs`` times (each rolled back: a claim claims nothing for the next), then EXPLAIN its SELECT."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    times = []
    for _ in range(runs):
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            began = time.perf_counter()
            found = call(now)
            times.append(1000 * (time.perf_counter() - began))
            transaction.set_rollback(True)
    select = next(q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("SELECT"))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {select}")
        explained = cursor.fetchone()[0]
        transaction.set_rollback(True)
    plan = explained[0] if isinstance(explained, list) else explained
    return {
        "rows": len(found),
        "median_ms": statistics.median(times),
        "max_ms": max(times),
        "explain_ms": plan["Execution Time"],
        **plan_summary(plan["Plan"]),
    }


def plan_summary(top: dict[str, Any]) -> dict[str, Any]:
    """The plan's top nodes down to the first table it reads, and whether any node reads a whole table or sorts."""
    path, node = [], top
    while True:
        label = node["Node Type"]
        if "Index Name" in node:
            label += f" using {node['Index Name']}"
        if "Relation Name" in node:
            label += f" on {node['Relation Name']}"
        path.append(label)
        if "Relation Name" in node or not node.get("Plans"):
            break
        node = node["Plans"][0]
    every = []
    stack = [top]
    while stack:
        each = stack.pop()
        every.append(each)
        stack.extend(each.get("Plans", []))
    return {
        "plan": " > ".join(path),
        # How far the first read went: rows it returned and rows it passed over.
        "read": node.get("Actual Rows", 0) * node.get("Actual Loops", 1),
        "passed_over": node.get("Rows Removed by Filter", 0) + node.get("Rows Removed by Index Recheck", 0),
        "indexed": not any(each["Node Type"] == "Seq Scan" for each in every),
        "sorts": any(each["Node Type"] in {"Sort", "Incremental Sort"} for each in every),
    }


def run(*, artists: int, runs: int) -> bool:
    """Seed, measure and print; True if every query is served by indexes and under the bar."""
    from django.utils import timezone

    seeded = catalogue_seed(artists=artists)
    total = followed_artists()
    print(
        f"catalog: {total:,} followed artists with MusicBrainz ids ({seeded['before']:,} there before; seeding "
        f"and VACUUM ANALYZE {seeded['seconds']:.0f} s)"
    )
    ok = True
    states: list[tuple[str, dt.datetime, AbstractContextManager[None]]] = [
        ("backlog", timezone.now(), nullcontext()),
        ("caught up", caught_up_moment(), nullcontext()),
        (f"after a large import (1 in {IMPORTED_SHARE} never synced)", timezone.now(), after_a_large_import()),
    ]
    for state, now, setting in states:
        with setting:
            ok = measure_state(state, now, runs) and ok
    return ok


def measure_state(state: str, now: dt.datetime, runs: int) -> bool:
    """Print each per-tick query's figures at ``now``; True if every one is served by indexes and under the bar."""
    ok = True
    print(f"  {state} (now = {now:%Y-%m-%d %H:%M}Z); median and most of {runs} calls:")
    for name, call in tick_queries().items():
        figures = measure(call, now, runs)
        flags = [] if figures["indexed"] else ["NOT SERVED BY AN INDEX"]
        if figures["max_ms"] > BAR_MS:
            flags.append(f"OVER {BAR_MS} ms")
        ok = ok and not flags
        print(
            f"    {name}: {figures['rows']} rows, {figures['median_ms']:.1f} ms, most {figures['max_ms']:.1f} ms "
            f"(EXPLAIN ANALYZE {figures['explain_ms']:.1f} ms); {figures['plan']}, "
            f"read {figures['read']:,} passed over {figures['passed_over']:,}"
            f"{', sorts' if figures['sorts'] else ''}{'; ' + ', '.join(flags) if flags else ''}"
        )
    return ok
