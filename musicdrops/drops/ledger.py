"""The ledger's rules, in one place: queueing, claiming, recording (under a fencing token) and freeing deliveries."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from musicdrops.drops.emails import message_id
from musicdrops.drops.models import DeliveredRelease, Delivery
from musicdrops.drops.selectors import Due, recipients

INSERT_BATCH = 1000  # rows per INSERT ... VALUES statement (SQLite)
# Not status="due": PostgreSQL could pick the partial index of due rows and scan them all for each message.
_ONE_OPEN = ~Q(status__in=[Delivery.Status.SENT, Delivery.Status.FAILED])


@transaction.atomic
def deliveries_queue(
    *,
    slot: dt.datetime,
    due: dict[int, Due],
    wanted: dict[int, list[int]],
    now: dt.datetime,
    reserve_until: dt.datetime,
) -> list[int]:
    """Insert a due delivery of ``slot``, with its releases, for each user with none for the period; return them."""
    if not wanted:
        return []
    ops = connection.ops
    inserted = dict(
        _insert_returning(
            "drops_delivery",
            {"user_id": "bigint", "message_id": "text", "day": "date", "period": "text"},
            [(u, message_id(u, due[u].period), ops.adapt_datefield_value(due[u].day), due[u].period) for u in wanted],
            constants={
                "slot": ops.adapt_datetimefield_value(slot),
                "status": Delivery.Status.DUE.value,
                "token": "",
                "lease_until": ops.adapt_datetimefield_value(reserve_until),
                "queued_at": ops.adapt_datetimefield_value(now),
                "error": "",
            },
            conflict="(user_id, period)",
            returning="user_id, id",
        )
    )
    held = _insert_returning(
        "drops_deliveredrelease",
        {"user_id": "bigint", "release_group_id": "bigint", "delivery_id": "bigint"},
        [(u, r, d) for u, d in inserted.items() for r in wanted[u]],
        conflict="(user_id, release_group_id)",
        returning="delivery_id",
    )
    holding = {d for (d,) in held}
    empty = [d for d in inserted.values() if d not in holding]
    if empty:
        Delivery.objects.filter(pk__in=empty).delete()
    return sorted(u for u, d in inserted.items() if d in holding)


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    day: dt.date
    message_id: str  # fixed when the row was queued: a key rotated since changes nothing
    release_ids: list[int]


def deliveries_claim(
    *, slot: dt.datetime, user_ids: list[int], token: str, now: dt.datetime, lease_until: dt.datetime
) -> dict[int, Claim]:
    """Claim for ``token`` these users' due rows nobody holds or whose lease ran out; return those it holds, by user."""
    _drop_lapsed(slot=slot, user_ids=user_ids)
    Delivery.objects.filter(slot=slot, user_id__in=user_ids, status=Delivery.Status.DUE).filter(
        Q(token="") | Q(lease_until__lt=now)
    ).update(token=token, lease_until=lease_until)
    mine = {
        pk: (user_id, day, message)
        for pk, user_id, day, message in Delivery.objects.filter(
            slot=slot, token=token, status=Delivery.Status.DUE
        ).values_list("pk", "user_id", "day", "message_id")
    }
    releases: dict[int, list[int]] = defaultdict(list)
    for delivery_id, release_id in DeliveredRelease.objects.filter(delivery_id__in=mine).values_list(
        "delivery_id", "release_group_id"
    ):
        releases[delivery_id].append(release_id)
    return {user_id: Claim(pk, day, message, sorted(releases[pk])) for pk, (user_id, day, message) in mine.items()}


def _drop_lapsed(*, slot: dt.datetime, user_ids: list[int]) -> None:
    """Forget free due rows of users who stopped receiving drops (unsubscribed, deactivated) since the fan-out."""
    Delivery.objects.filter(slot=slot, user_id__in=user_ids, status=Delivery.Status.DUE, token="").exclude(
        user_id__in=recipients().filter(pk__in=user_ids).values("pk")
    ).delete()


def delivery_mark_sent(*, delivery_id: int, token: str, now: dt.datetime) -> bool:
    """Record that the mail server accepted this delivery's message. False: ``token`` no longer holds it; stop."""
    with connection.cursor() as cursor:
        cursor.execute(
            _MARK_SENT, [Delivery.Status.SENT, connection.ops.adapt_datetimefield_value(now), delivery_id, token]
        )
        return bool(cursor.rowcount == 1)


# The ORM's update written out: 70 us of CPU per email against 250 (docs/performance.md). Our names, never input.
_MARK_SENT = (
    f"UPDATE {Delivery._meta.db_table} SET status = %s, sent_at = %s "  # noqa: S608
    "WHERE id = %s AND token = %s AND status NOT IN ('sent', 'failed')"
)


@transaction.atomic
def delivery_mark_failed(*, delivery_id: int, token: str, error: str) -> bool:
    """The mail server refused the address for good: record it, and free its releases for another day."""
    updated = Delivery.objects.filter(_ONE_OPEN, pk=delivery_id, token=token).update(
        status=Delivery.Status.FAILED, error=error[:500]
    )
    if updated:
        DeliveredRelease.objects.filter(delivery_id=delivery_id).delete()
    return bool(updated)


def deliveries_release(*, token: str, delivery_ids: list[int], until: dt.datetime) -> int:
    """Give back what ``token`` holds of these, unsent; the sweep leaves them alone until ``until``."""
    if not delivery_ids:
        return 0
    return Delivery.objects.filter(pk__in=delivery_ids, token=token, status=Delivery.Status.DUE).update(
        token="", lease_until=until
    )


@transaction.atomic
def deliveries_reserve_free(
    *, slot: dt.datetime, now: dt.datetime, until: dt.datetime, reserved_too: bool = False
) -> list[int]:
    """Reserve the users of ``slot`` still due whose lease ran out (``reserved_too``: any free one) until ``until``."""
    free = Q(lease_until__lt=now) | Q(token="") if reserved_too else Q(lease_until__lt=now)
    rows = (
        Delivery.objects.select_for_update(skip_locked=True)
        .filter(free, slot=slot, status=Delivery.Status.DUE)
        .order_by("user_id")
    )
    found = dict(rows.values_list("pk", "user_id"))
    Delivery.objects.filter(pk__in=list(found)).update(token="", lease_until=until)
    return list(found.values())


def _insert_returning(
    table: str,
    columns: dict[str, str],
    rows: list[tuple[Any, ...]],
    *,
    constants: dict[str, Any] | None = None,
    conflict: str,
    returning: str,
) -> list[tuple[Any, ...]]:
    """INSERT ``rows`` (``columns``, then ``constants``) skipping ``conflict``; ``returning`` of those inserted.

    bulk_create cannot say which it skipped; an array per column, not VALUES, on PostgreSQL (docs/performance.md).
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
