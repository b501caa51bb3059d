"""The catalogue at scale: per-artist browses against batched searches, inside 1 request/s.

    python -m bench.catalog_scale [--sizes 10000,100000,1000000] [--simulate-up-to 100000]

For each number of followed artists it prints, for today's per-artist browse
and for the batched search side by side: the requests per day needed to find
every artist's new releases within 24 hours (and within 1 hour), and the time
from a release appearing upstream to it being in the catalogue.

What is measured and what is worked out:

- The per-artist browse: ``sync.artist_sync`` (the lookup, then every page)
  over real HTTP against the replay server for a sample of artists with
  catalogues of realistic sizes, giving requests per artist check. Checking N
  artists within a period takes N times that; at the background's share of the
  1 request/s (80 s of every 120 s) one round takes N * requests / (2/3) s,
  and a release waits on average half a round, at worst one.
- The batched search: the real ``discovery.releases_discover`` over real HTTP
  against the replay server, with every followed artist in PostgreSQL, on a
  simulated clock: the periodic task every 120 s with 80 s of requests at
  1 request/s (the limiter takes one second of simulated time per request),
  releases appearing upstream at random moments and reaching the search index
  ``--lag`` seconds later. Its figures (requests a day in steady state, and
  each release's time from appearing to ``first_seen_at``) are read off the
  run. Sizes above ``--simulate-up-to`` are worked out from the largest
  simulated size's requests per search instead (and say so).

Uses its own database (musicdrops_bench) and Redis database 14 unless
DATABASE_URL / REDIS_URL say otherwise. The database's catalogue is emptied.
"""

import argparse
import datetime as dt
import logging
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BEAT_SECONDS = 120  # the sync-stale-artists entry's interval
RUN_SECONDS = 80  # and the requests one run may spend
RATE = 1.0  # MusicBrainz: one request per second per IP
BACKGROUND_SHARE = RUN_SECONDS / BEAT_SECONDS
DAY = 86_400
# A catalogue shaped like followed artists on MusicBrainz: a new release group every
# ~8 months per artist, a few announced further ahead, and back catalogues of a
# handful to hundreds of groups (what the browse pages through).
RELEASES_PER_ARTIST_YEAR = 1.5
ANNOUNCED_AHEAD = 0.15  # groups per artist dated 32 to 730 days ahead
HOT_SHARE = 0.01  # artists with enough followers to be searched more often


@dataclass
class Clock:
    """Simulated time: seconds since ``start``."""

    start: dt.datetime
    seconds: float = 0.0

    def now(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds


@dataclass
class Appearance:
    at: float  # simulated seconds
    artist: str
    group: dict[str, Any]
    found_after: float | None = None


@dataclass
class Simulated:
    artists: int
    seconds: float
    requests: int
    searches: int
    latencies: list[float] = field(default_factory=list)
    missing: int = 0  # appeared, not in the catalogue when the simulation ended
    spare: float = 0.0  # seconds of the background's budget left for the browse sweep
    errors: list[str] = field(default_factory=list)  # the first few failed searches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--simulate-up-to", type=int, default=100_000)
    parser.add_argument("--lag", type=float, default=300, help="seconds before the search index has a new group")
    parser.add_argument("--releases", type=int, default=300, help="new releases appearing during a simulation")
    parser.add_argument("--sample", type=int, default=1000, help="artists browsed to measure the per-artist cost")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    sys.path.insert(0, str(ROOT))
    from bench.catalog_sync import setup_django

    setup_django()
    from django.conf import settings

    from tests.catalog.upstream import serve

    logging.getLogger("musicdrops").setLevel(logging.WARNING)  # not a line per artist synced
    began = time.monotonic()
    with serve() as server:
        settings.MUSICBRAINZ_URL = server.musicbrainz_url
        per_check = measure_browse(server, args.sample)
        simulated: dict[int, Simulated] = {}
        for size in sizes:
            if size <= args.simulate_up_to:
                simulated[size] = simulate(server, size, lag=args.lag, releases=args.releases)
    report(sizes, per_check, simulated, lag=args.lag, seconds=time.monotonic() - began)
    return 0 if bars_met(per_check, simulated) else 1


def catalogue_size(rng: random.Random) -> int:
    """Release groups in one artist's back catalogue: median ~12, a long tail past 100 (more pages)."""
    return min(600, int(rng.lognormvariate(math.log(12), 1.1)))


def measure_browse(server: Any, sample: int) -> float:
    """Requests per artist check of today's design (lookup + pages), measured with the real sync."""
    from django.conf import settings

    from musicdrops.accounts.models import User
    from musicdrops.catalog import musicbrainz, sync
    from musicdrops.catalog.models import Artist, Follow
    from tests.catalog.upstream import fixture_mbid, many_release_groups

    reset_catalogue(server)
    settings.MUSICBRAINZ_REQUESTS_PER_SECOND = 10_000.0  # measure requests, not the courtesy pause
    rng = random.Random(1)  # noqa: S311 - a reproducible synthetic catalogue, not a secret
    user = User.objects.create(email="catalog-bench@example.com")
    mbids = [fixture_mbid("bench-browse", str(n)) for n in range(sample)]
    for mbid in mbids:
        server.set_release_groups(mbid, many_release_groups(catalogue_size(rng), seed=mbid), indexed=True)
    artists = Artist.objects.bulk_create([Artist(mbid=m, name=m[:8]) for m in mbids])
    Follow.objects.bulk_create([Follow(user=user, artist=a) for a in artists])
    client = musicbrainz.default_client()
    for artist in artists:
        sync.artist_sync(artist_id=artist.pk, client=client)
    return client.requests_made / sample


def reset_catalogue(server: Any) -> None:
    from django.db import connection

    from musicdrops.accounts.models import User

    server.reset()
    with connection.cursor() as cursor:
        # The bench's own database: emptying the catalogue tables is faster than deleting 1M rows.
        tables = "catalog_follow, catalog_releasegroup_artists, catalog_releasegroup, catalog_artist"
        cursor.execute(f"TRUNCATE {tables} CASCADE")
    User.objects.filter(email__endswith="@catalog-bench.example").delete()
    User.objects.filter(email="catalog-bench@example.com").delete()


def simulate(server: Any, size: int, *, lag: float, releases: int) -> Simulated:
    """The batched search for ``size`` followed artists on a simulated clock, with releases appearing."""
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from musicdrops.accounts.models import User
    from musicdrops.catalog import discovery, musicbrainz
    from musicdrops.catalog.models import Artist, Follow, ReleaseGroup
    from musicdrops.catalog.ratelimit import RateLimiter
    from tests.catalog.upstream import fixture_mbid, release_group

    reset_catalogue(server)
    rng = random.Random(size)  # noqa: S311 - a reproducible synthetic catalogue, not a secret
    clock = Clock(start=timezone.now())
    today = clock.start.date()
    server.clock = clock.monotonic
    server.search_lag = lag
    server.max_per_second = RATE  # the replay server answers 503 over 1 request/s (of simulated time)

    # The catalogue as it stands, in steady state: every artist browsed, due for its
    # next search somewhere in its interval, the in-window groups already held.
    mbids = [fixture_mbid("bench-scale", str(n)) for n in range(size)]
    near_in_window = RELEASES_PER_ARTIST_YEAR * (discovery.NEAR.last_day - discovery.NEAR.first_day) / 365
    held: dict[str, list[dict[str, Any]]] = {}
    for n, mbid in enumerate(mbids):
        groups = [
            release_group(f"{n} near {k}", mbid=fixture_mbid("bench-rg", mbid, "near", str(k)), date=day)
            for k, day in enumerate(random_days(rng, near_in_window, today, discovery.NEAR))
        ]
        groups += [
            release_group(f"{n} far {k}", mbid=fixture_mbid("bench-rg", mbid, "far", str(k)), date=day)
            for k, day in enumerate(random_days(rng, ANNOUNCED_AHEAD, today, discovery.FAR))
        ]
        if groups:
            held[mbid] = groups
            server.set_release_groups(mbid, groups, indexed=True)
    near_every, far_every = settings.CATALOG_SEARCH_SECONDS, settings.CATALOG_FAR_SEARCH_SECONDS
    artists = Artist.objects.bulk_create(
        [
            Artist(
                mbid=m,
                name=m[:8],
                synced_at=clock.start - dt.timedelta(hours=12),
                search_due_at=clock.start + dt.timedelta(seconds=rng.uniform(0, near_every)),
                far_search_due_at=clock.start + dt.timedelta(seconds=rng.uniform(0, far_every)),
            )
            for m in mbids
        ],
        batch_size=10_000,
    )
    by_mbid = {str(a.mbid): a.pk for a in artists}
    fans = User.objects.bulk_create(
        [User(email=f"fan{n}@catalog-bench.example") for n in range(settings.CATALOG_HOT_FOLLOWERS + 5)]
    )
    hot = set(rng.sample(range(size), max(1, int(size * HOT_SHARE))))
    Follow.objects.bulk_create(
        [Follow(user=fans[0], artist_id=a.pk) for a in artists]
        + [Follow(user=fan, artist_id=artists[n].pk) for n in hot for fan in fans[1:]],
        batch_size=10_000,
    )
    rows = [
        ReleaseGroup(mbid=g["id"], title=g["title"], first_release_date=dt.date.fromisoformat(g["first-release-date"]))
        for groups in held.values()
        for g in groups
    ]
    ReleaseGroup.objects.bulk_create(rows, batch_size=10_000)
    pk_of = dict(ReleaseGroup.objects.values_list("mbid", "pk"))
    Through = ReleaseGroup.artists.through
    Through.objects.bulk_create(
        [Through(artist_id=by_mbid[m], releasegroup_id=pk_of[_uuid(g["id"])]) for m, gs in held.items() for g in gs],
        batch_size=10_000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # after a bulk load, as autovacuum would soon: the claim's plan depends on it

    # New releases appear at random moments of the first two hours, each dated the day it appears.
    appear_within = 2 * 3600
    appearances = sorted(
        (
            Appearance(
                at=rng.uniform(0, appear_within),
                artist=mbid,
                group=release_group(
                    f"New {n}", mbid=fixture_mbid("bench-new", str(size), str(n)), date=today.isoformat()
                ),
            )
            for n, mbid in enumerate(rng.choices(mbids, k=releases))
        ),
        key=lambda a: a.at,
    )
    waiting = list(appearances)

    def appear() -> None:
        while waiting and waiting[0].at <= clock.seconds:
            new = waiting.pop(0)
            held[new.artist] = [*held.get(new.artist, []), new.group]
            server.set_release_groups(new.artist, held[new.artist])  # searchable ``lag`` s from now

    class SimulatedLimiter(RateLimiter):
        """The shared budget on the simulated clock: a request takes 1/RATE s of it, nobody sleeps."""

        def __init__(self) -> None:
            super().__init__("bench-catalog-simulated", RATE)
            self.next_free = 0.0

        def acquire(self, *, timeout: float | None = None, ahead: bool = False) -> float:
            wait = max(0.0, self.next_free - clock.seconds)
            clock.seconds += wait
            self.next_free = clock.seconds + 1 / RATE
            appear()
            return wait

        def pause(self, seconds: float) -> None:
            self.next_free = max(self.next_free, clock.seconds + seconds)

    client = musicbrainz.MusicBrainzClient(
        base_url=server.musicbrainz_url,
        user_agent=settings.MUSICBRAINZ_USER_AGENT,
        rate_limiter=SimulatedLimiter(),
        sleep=lambda seconds: None,
    )
    # Run until an hour and a quarter after the last release appeared: long enough for every
    # one of them to be found if the design keeps its promise, and a steady state to count.
    end = appear_within + 4500
    searches = 0
    errors: list[str] = []
    spare = 0.0
    beat = 0.0
    wall = time.monotonic()
    while beat < end:
        clock.seconds = max(clock.seconds, beat)
        appear()
        run_until = beat + RUN_SECONDS

        def keep_going(until: float = run_until) -> bool:
            return clock.seconds < until

        figures = discovery.releases_discover(client=client, keep_going=keep_going, now=clock.now)
        searches += figures.searches
        errors += figures.errors[: max(0, 3 - len(errors))]
        spare += max(0.0, run_until - clock.seconds)
        beat += BEAT_SECONDS
    simulated_seconds = beat
    found = dict(
        ReleaseGroup.objects.filter(mbid__in=[a.group["id"] for a in appearances]).values_list("mbid", "first_seen_at")
    )
    result = Simulated(
        artists=size,
        seconds=simulated_seconds,
        requests=client.requests_made,
        searches=searches,
        spare=spare,
        errors=errors,
    )
    for appearance in appearances:
        seen = found.get(_uuid(appearance.group["id"]))
        if seen is None:
            result.missing += 1
        else:
            result.latencies.append((seen - clock.start).total_seconds() - appearance.at)
    print(
        f"  simulated {size:,} artists: {simulated_seconds / 3600:.2f} h of simulated time "
        f"in {time.monotonic() - wall:.0f} s",
        file=sys.stderr,
    )
    server.clock = time.monotonic
    server.max_per_second = None
    server.search_lag = 0.0
    return result


def random_days(rng: random.Random, mean: float, today: dt.date, window: Any) -> list[str]:
    """A Poisson number (of this mean) of dates inside ``window``."""
    count, p, threshold = 0, rng.random(), math.exp(-mean)
    while p > threshold:
        count += 1
        p *= rng.random()
    start, end = window.dates(today)
    return [(start + dt.timedelta(days=rng.randint(0, (end - start).days))).isoformat() for _ in range(count)]


def _uuid(text: str) -> Any:
    import uuid

    return uuid.UUID(text)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * DAY:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / DAY:.1f} days"


@dataclass
class Row:
    size: int
    browse_day: float  # per-artist: requests a day for 24-hour freshness
    search_day: float  # batched: requests a day for 24-hour freshness
    browse_hour: float  # per-artist: requests a day for 1-hour freshness
    search_hour: float  # batched: requests a day at the configured (1-hour) intervals
    browse_median: float
    browse_worst: float
    search_median: float | None
    search_worst: float | None
    modelled: bool


def rows(sizes: list[int], per_check: float, simulated: dict[int, Simulated]) -> list[Row]:
    from django.conf import settings

    from musicdrops.catalog import discovery, musicbrainz

    if not simulated:
        raise SystemExit("no size simulated: raise --simulate-up-to")
    largest = simulated[max(simulated)]
    per_search = largest.requests / max(1, largest.searches)  # pages per search, measured
    batch = discovery.batch_size(client=musicbrainz.default_client(), window=discovery.NEAR, today=dt.date.today())
    out = []
    for size in sizes:
        round_seconds = size * per_check / (RATE * BACKGROUND_SHARE)
        passes = 2 * math.ceil(size / batch)  # both windows, once each
        sim = simulated.get(size)
        if sim is not None:
            search_hour = sim.requests / sim.seconds * DAY
            median = statistics.median(sim.latencies) if sim.latencies else None
            worst = (math.inf if sim.missing else max(sim.latencies)) if sim.latencies or sim.missing else None
        else:
            # Not simulated: the largest simulation's requests a day, in proportion to the artists
            # (every cost is per batch), and how long the budget takes to search everyone once
            # (if that is longer than the interval, it sets the pace).
            search_hour = largest.requests / largest.seconds * DAY * size / largest.artists
            budget_round = math.ceil(size / batch) * per_search / (RATE * BACKGROUND_SHARE)
            cycle = max(settings.CATALOG_SEARCH_SECONDS, budget_round)
            median, worst = cycle / 2, cycle
        out.append(
            Row(
                size=size,
                browse_day=size * per_check,
                search_day=passes * per_search,
                browse_hour=size * per_check * 24,
                search_hour=search_hour,
                browse_median=round_seconds / 2,
                browse_worst=round_seconds,
                search_median=median,
                search_worst=worst,
                modelled=sim is None,
            )
        )
    return out


def report(sizes: list[int], per_check: float, simulated: dict[int, Simulated], *, lag: float, seconds: float) -> None:
    from django.conf import settings

    print("catalogue at scale — per-artist browse against batched search, 1 request/s, 80 s of every 120 s")
    print(
        f"  per-artist check: {per_check:.2f} requests (lookup + pages, measured over real HTTP); "
        f"search intervals: near {settings.CATALOG_SEARCH_SECONDS} s, hot {settings.CATALOG_HOT_SEARCH_SECONDS} s, "
        f"far {settings.CATALOG_FAR_SEARCH_SECONDS} s; search index lag {lag:.0f} s"
    )
    header = (
        f"  {'artists':>9} │ {'req/day, 24 h fresh':^21} │ {'req/day, 1 h fresh':^21} │ "
        f"{'release → catalogue, median / worst':^43}"
    )
    print(header)
    print(f"  {'':>9} │ {'browse':>10} {'search':>10} │ {'browse':>10} {'search':>10} │ {'browse':>21} {'search':>21}")
    for row in rows(sizes, per_check, simulated):
        search_latency = (
            "—"
            if row.search_median is None or row.search_worst is None
            else f"{_duration(row.search_median)} / {_duration(row.search_worst)}"
        )
        mark = "*" if row.modelled else " "
        print(
            f"  {row.size:>9,} │ {row.browse_day:>10,.0f} {row.search_day:>10,.0f} │ "
            f"{row.browse_hour:>10,.0f} {row.search_hour:>9,.0f}{mark} │ "
            f"{_duration(row.browse_median) + ' / ' + _duration(row.browse_worst):>21} {search_latency + mark:>21}"
        )
        print(
            f"  {'':>9} │ {'ratio':>10} {row.browse_day / row.search_day:>9.0f}x │ "
            f"{'ratio':>10} {row.browse_hour / row.search_hour:>9.0f}x │"
        )
    for size, sim in simulated.items():
        print(
            f"  simulated {size:,}: {sim.requests:,} requests ({sim.searches:,} searches) in "
            f"{sim.seconds / 3600:.2f} h = {sim.requests / sim.seconds:.3f} req/s; "
            f"{len(sim.latencies)} of {len(sim.latencies) + sim.missing} new releases found; "
            f"{sim.spare / (sim.seconds * BACKGROUND_SHARE) * 100:.0f}% of the background's budget left for the sweep"
        )
        for error in sim.errors:
            print(f"    a failed search: {error}")
    print(
        f"  1 request/s is {RATE * DAY:,.0f} requests a day at most, {RATE * DAY * BACKGROUND_SHARE:,.0f} for the "
        "background: a design needing more cannot keep its promise"
    )
    print("  * worked out from the largest simulation's requests per search, not simulated")
    print(f"  ({seconds:.0f} s)")
    met = bars_met(per_check, simulated)
    verdict = ("met" if met else "NOT met") if 100_000 in simulated else "not checked (100,000 not simulated)"
    print(f"  bars at 100,000 artists (found within 1 h, <= 1 req/s, >= 25x fewer requests): {verdict}")


def bars_met(per_check: float, simulated: dict[int, Simulated]) -> bool:
    sim = simulated.get(100_000)
    if sim is None:
        return True  # not asked for
    [row] = rows([100_000], per_check, simulated)
    return (
        sim.missing == 0
        and max(sim.latencies) <= 3600
        and sim.requests / sim.seconds <= RATE
        and row.browse_hour / row.search_hour >= 25
        and row.browse_day / row.search_day >= 25
    )


if __name__ == "__main__":
    sys.exit(main())
