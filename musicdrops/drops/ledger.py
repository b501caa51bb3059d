"""The ledger's rules, in one place: queueing, claiming, recording and freeing (user, period) deliveries.

A row goes ``due`` -> ``sent`` (or ``failed``), never back. Between the two,
an attempt at sending holds it with a *fencing token*: a random value of its
own, written with a lease by one conditional UPDATE. The message is recorded
as sent only by an UPDATE that still finds that token on the row, so an
attempt that lost its claim (frozen past its lease, then resumed; or a
redelivered copy of a task still running elsewhere) learns so at its first
record, and stops: at most the one message it had in flight goes out twice,
with the same Message-ID.

The crash window, once: the mail server accepted a message and the worker
died before its UPDATE. The next attempt sends that message again, with the
same Message-ID, which lets the receiving side drop the repeat. Sending
nothing in doubt instead would turn that repeat into a missing email.
"""

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
# One row, still due, by its key. Not ``status="due"``: that would let PostgreSQL pick the partial index
# of due rows, and scan all of them for every message, whenever its statistics say the table is small.
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
    """Insert a due delivery of ``slot``, with its releases, for each user who has none for their period yet;
    return those users.

    ``reserve_until``: the sweep leaves the new rows alone until then (they
    are about to be queued). A release another delivery already holds is
    left out; a user left with nothing gets no row and no email.
    """
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
    if empty:  # everything it would have said was already said: no email
        Delivery.objects.filter(pk__in=empty).delete()
    return sorted(u for u, d in inserted.items() if d in holding)


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    day: dt.date  # the user's local date: the email's subject
    message_id: str  # fixed when the row was queued: a key rotated since changes nothing
    release_ids: list[int]


def deliveries_claim(
    *, slot: dt.datetime, user_ids: list[int], token: str, now: dt.datetime, lease_until: dt.datetime
) -> dict[int, Claim]:
    """Claim these users' due deliveries for ``token``; return the ones it now holds, by user.

    A row is free to claim when nobody holds it, or its holder's lease ran
    out; a live lease is never taken, whoever asks. One conditional UPDATE
    does it: of two attempts racing for a row, PostgreSQL lets one through.
    """
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
    """Record that the mail server accepted this delivery's message. False: ``token`` no longer holds it; stop.

    The ORM's ``filter(...).update(...)`` of the same row, written out: it runs
    once per email, and compiling it cost 250 us of CPU against 70 us here
    (docs/performance.md). The statement is the same; the rowcount is the fence.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            _MARK_SENT, [Delivery.Status.SENT, connection.ops.adapt_datetimefield_value(now), delivery_id, token]
        )
        return bool(cursor.rowcount == 1)


# Our table and column names, never input; the values go in as parameters.
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
    """Users of ``slot`` still due whose claim or reservation ran out, reserved until ``until`` to be queued again.

    ``reserved_too``: also rows nobody holds that are still reserved for a
    queued chunk. Never a row under a live claim. Rows another sweep is
    reserving are skipped, not waited for.
    """
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
