"""Emptying the benchmark's Redis database, and refusing to empty anyone else's."""

import redis


def flush_own_database(url: str) -> None:
    """FLUSHDB, unless the database holds other things' bookkeeping (such as test runs' claims).

    The benchmarks default to databases 13 to 15 of the shared Redis; pointed
    at database 0 by mistake, a flush would free every running test run's
    claim on its database, and the runs would start sharing (and flushing) one.
    """
    client = redis.Redis.from_url(url)
    claims = next(client.scan_iter("musicdrops:test-run:*", count=1000), None)
    if claims is not None:
        raise SystemExit(f"{url} holds test runs' claims ({claims!r}): give the benchmark a database of its own")
    client.flushdb()
