"""Claiming, and recording, each (user, day) delivery. See Delivery for the rules."""

import contextlib
import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import redis
from django.db import connection, transaction
from django.db.models import Q

from musicdrops.drops.emails import message_id
from musicdrops.drops.models import DeliveredRelease, Delivery
from musicdrops.lib.redis import get_client

# Longer than a chunk task may run (its hard time limit), so a claim is never
# taken from a task that is still sending.
LEASE = dt.timedelta(minutes=5)
INSERT_BATCH = 1000  # rows per INSERT ... VALUES statement (SQLite)


@transaction.atomic
def deliveries_claim(
    *, day: dt.date, wanted: dict[int, list[int]], task_id: str, now: dt.datetime
) -> dict[int, tuple[int, list[int]]]:
    """Claim the users' deliveries for ``day``; return the ones this task now holds: user -> (delivery, releases).

    A claim from an earlier attempt of this same task keeps the releases it
    was made with, so a retry sends exactly what the first attempt would have.
    In the usual case (nobody claimed these users yet) that is two INSERTs
    and a commit, whatever the number of users.
    """
    if not wanted:
        return {}
    mine = _claims_insert(day=day, user_ids=list(wanted), task_id=task_id, now=now)
    holding: dict[int, list[int]] = defaultdict(list)
    others = [u for u in wanted if u not in mine]
    if others:
        taken = _claims_take_over(day=day, user_ids=others, task_id=task_id, now=now)
        for delivery_id, release_id in DeliveredRelease.objects.filter(delivery_id__in=taken.values()).values_list(
            "delivery_id", "release_group_id"
        ):
            holding[delivery_id].append(release_id)
        mine.update(taken)
    # The unique (user, release) constraint drops anything another delivery already holds.
    fresh = [(u, r, d) for u, d in mine.items() if d not in holding for r in wanted[u]]
    for delivery_id, release_id in _insert_returning(
        "drops_deliveredrelease",
        {"user_id": "bigint", "release_group_id": "bigint", "delivery_id": "bigint"},
        fresh,
        conflict="(user_id, release_group_id)",
        returning="delivery_id, release_group_id",
    ):
        holding[delivery_id].append(release_id)
    empty = [d for d in mine.values() if not holding.get(d)]
    if empty:  # everything it would have said was already said: no email
        Delivery.objects.filter(pk__in=empty).delete()
    return {u: (d, sorted(holding[d])) for u, d in mine.items() if holding.get(d)}


def _claims_insert(*, day: dt.date, user_ids: list[int], task_id: str, now: dt.datetime) -> dict[int, int]:
    """A claim for each user who has no delivery for ``day`` yet: user -> delivery of those inserted."""
    ops = connection.ops
    return dict(
        _insert_returning(
            "drops_delivery",
            {"user_id": "bigint", "message_id": "text"},
            [(u, message_id(u, day)) for u in user_ids],
            constants={
                "day": ops.adapt_datefield_value(day),
                "status": Delivery.Status.CLAIMED.value,
                "task_id": task_id,
                "lease_until": ops.adapt_datetimefield_value(now + LEASE),
                "claimed_at": ops.adapt_datetimefield_value(now),
                "error": "",
            },
            conflict="(user_id, day)",
            returning="user_id, id",
        )
    )


def _insert_returning(
    table: str,
    columns: dict[str, str],
    rows: list[tuple[Any, ...]],
    *,
    constants: dict[str, Any] | None = None,
    conflict: str,
    returning: str,
) -> list[tuple[Any, ...]]:
    """INSERT a row for each of ``rows`` (values of ``columns``, then ``constants``), skipping any that
    break the unique ``conflict``; return ``returning`` of the rows inserted.

    Django's bulk_create cannot say which rows it skipped. On PostgreSQL the
    rows go as one array per column (``unnest``): a handful of parameters
    whatever the number of rows, where a VALUES list has one per value, and
    psycopg takes about 2 us of CPU for each (20 ms for a chunk's claims).
    Elsewhere (SQLite, in development) as a VALUES list. ``columns`` maps
    each column to its PostgreSQL type; the names are ours, never input.
    """
    if not rows:
        return []
    constants = constants or {}
    names = ", ".join([*columns, *constants])
    select = ", ".join([*(f"r.{c}" for c in columns), *["%s"] * len(constants)])
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{kind}[]" for kind in columns.values())
        sources = [
            (f"unnest({arrays}) AS r({', '.join(columns)})", [list(values) for values in zip(*rows, strict=True)])
        ]
    else:
        aliases = ", ".join(f"column{n} AS {c}" for n, c in enumerate(columns, 1))
        row = "(" + ", ".join(["%s"] * len(columns)) + ")"
        sources = [
            (
                f"(SELECT {aliases} FROM (VALUES {', '.join([row] * len(batch))})) AS r",  # noqa: S608
                [value for r in batch for value in r],
            )
            for batch in (rows[i : i + INSERT_BATCH] for i in range(0, len(rows), INSERT_BATCH))
        ]
    inserted: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        for source, params in sources:
            # WHERE true: without it SQLite would take the ON of ON CONFLICT for a join condition.
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT {select} FROM {source} WHERE true "  # noqa: S608 (our names)
                f"ON CONFLICT {conflict} DO NOTHING RETURNING {returning}",
                [*constants.values(), *params],
            )
            inserted += cursor.fetchall()
    return inserted


def _claims_take_over(*, day: dt.date, user_ids: list[int], task_id: str, now: dt.datetime) -> dict[int, int]:
    """Open claims of these users that this task may take: its own (a retry), or any whose lease ran out."""
    claims = Delivery.objects.filter(day=day, user_id__in=user_ids, status=Delivery.Status.CLAIMED).filter(
        Q(task_id=task_id) | Q(lease_until__lt=now)
    )
    ids = list(claims.values_list("pk", flat=True))
    if not ids:
        return {}
    # Marks left by a sender that died before writing them down: those were sent, and are not taken.
    sent_marks_flush(day=day, delivery_ids=ids)
    claims.filter(pk__in=ids).update(task_id=task_id, lease_until=now + LEASE)
    return dict(
        Delivery.objects.filter(pk__in=ids, status=Delivery.Status.CLAIMED, task_id=task_id).values_list(
            "user_id", "pk"
        )
    )


def open_claim_user_ids(*, day: dt.date, user_ids: list[int]) -> list[int]:
    return list(
        Delivery.objects.filter(day=day, user_id__in=user_ids, status=Delivery.Status.CLAIMED).values_list(
            "user_id", flat=True
        )
    )


# A "sent" mark lives this long in Redis if nobody writes it to the ledger
# (every task that touches the claim does, so only an abandoned day's marks expire).
MARK_TTL = 3 * 24 * 3600


def _mark_key(day: dt.date, delivery_id: int) -> str:
    return f"musicdrops:drops:sent:{day.isoformat()}:{delivery_id}"


@contextlib.contextmanager
def marks_connection() -> Iterator[redis.Redis]:
    """A Redis client that keeps one connection of the process's pool for a whole send.

    The send records a mark per email: taking a connection from the pool
    and giving it back for each costs more than the command itself.
    """
    client = redis.Redis(connection_pool=get_client().connection_pool, single_connection_client=True)
    try:
        yield client
    finally:
        client.close()  # the connection goes back to the pool


def delivery_mark_sent(*, day: dt.date, delivery_id: int, client: redis.Redis | None = None) -> None:
    """Record, at once, that the mail server accepted this delivery's message.

    One SET in Redis per email (with its expiry: one round trip, no SQL, no
    fsync), written to the PostgreSQL ledger in bulk by ``sent_marks_flush``.
    Any task that touches a claim applies the marks still waiting here first
    (``deliveries_claim`` does), so a mark outlives the worker that made it.
    """
    client = client or get_client()
    client.set(_mark_key(day, delivery_id), dt.datetime.now(dt.UTC).isoformat(), ex=MARK_TTL)


def sent_marks_flush(*, day: dt.date, delivery_ids: list[int], client: redis.Redis | None = None) -> int:
    """Write the waiting "sent" marks of these deliveries to the ledger; return how many."""
    if not delivery_ids:
        return 0
    client = client or get_client()
    keys = [_mark_key(day, i) for i in delivery_ids]
    marks = {i: v for i, v in zip(delivery_ids, client.mget(keys), strict=True) if v is not None}
    if not marks:
        return 0
    sent_at = max(dt.datetime.fromisoformat(str(v)) for v in marks.values())
    # The Message-ID was stored with the claim: marking sent is one plain UPDATE.
    updated = Delivery.objects.filter(pk__in=list(marks), status=Delivery.Status.CLAIMED).update(
        status=Delivery.Status.SENT, sent_at=sent_at
    )
    client.delete(*(_mark_key(day, i) for i in marks))
    return updated


@transaction.atomic
def delivery_mark_failed(*, delivery_id: int, task_id: str, error: str) -> None:
    """The mail server refused the address for good: record it, and free its releases for another day."""
    updated = Delivery.objects.filter(pk=delivery_id, task_id=task_id, status=Delivery.Status.CLAIMED).update(
        status=Delivery.Status.FAILED, error=error[:500]
    )
    if updated:
        DeliveredRelease.objects.filter(delivery_id=delivery_id).delete()
