"""Claiming, and recording, each (user, day) delivery. See Delivery for the rules."""

import datetime as dt
from collections import defaultdict

from django.db import transaction
from django.db.models import Q

from musicdrops.drops.emails import message_id
from musicdrops.drops.models import DeliveredRelease, Delivery
from musicdrops.lib.redis import get_client

# Longer than a chunk task may run (its hard time limit), so a claim is never
# taken from a task that is still sending.
LEASE = dt.timedelta(minutes=5)


@transaction.atomic
def deliveries_claim(
    *, day: dt.date, wanted: dict[int, list[int]], task_id: str, now: dt.datetime
) -> dict[int, tuple[Delivery, list[int]]]:
    """Claim the users' deliveries for ``day``; return the ones this task now holds, with their releases.

    A claim from an earlier attempt of this same task keeps the releases it
    was made with, so a retry sends exactly what the first attempt would have.
    """
    if not wanted:
        return {}
    Delivery.objects.bulk_create(
        [
            Delivery(
                user_id=u,
                day=day,
                task_id=task_id,
                lease_until=now + LEASE,
                claimed_at=now,
                message_id=message_id(u, day),
            )
            for u in wanted
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    open_claims = Delivery.objects.filter(day=day, user_id__in=list(wanted), status=Delivery.Status.CLAIMED)
    # Marks left by a sender that died before writing them down: those were sent.
    sent_marks_flush(day=day, delivery_ids=list(open_claims.values_list("pk", flat=True)))
    open_claims.filter(Q(task_id=task_id) | Q(lease_until__lt=now)).update(task_id=task_id, lease_until=now + LEASE)
    mine = {d.user_id: d for d in open_claims.filter(task_id=task_id)}
    if not mine:
        return {}

    holding: dict[int, list[int]] = defaultdict(list)
    for delivery_id, release_id in DeliveredRelease.objects.filter(delivery__in=mine.values()).values_list(
        "delivery_id", "release_group_id"
    ):
        holding[delivery_id].append(release_id)
    fresh = [d for d in mine.values() if d.pk not in holding]
    # The unique (user, release) constraint drops anything another delivery already holds.
    DeliveredRelease.objects.bulk_create(
        [DeliveredRelease(user_id=d.user_id, release_group_id=r, delivery=d) for d in fresh for r in wanted[d.user_id]],
        batch_size=1000,
        ignore_conflicts=True,
    )
    if fresh:
        for delivery_id, release_id in DeliveredRelease.objects.filter(delivery__in=fresh).values_list(
            "delivery_id", "release_group_id"
        ):
            holding[delivery_id].append(release_id)
    empty = [d.pk for d in mine.values() if not holding.get(d.pk)]
    if empty:  # everything it would have said was already said: no email
        Delivery.objects.filter(pk__in=empty).delete()
    return {user_id: (d, sorted(holding[d.pk])) for user_id, d in mine.items() if holding.get(d.pk)}


def open_claim_user_ids(*, day: dt.date, user_ids: list[int]) -> list[int]:
    return list(
        Delivery.objects.filter(day=day, user_id__in=user_ids, status=Delivery.Status.CLAIMED).values_list(
            "user_id", flat=True
        )
    )


def _sent_key(day: dt.date) -> str:
    return f"musicdrops:drops:sent:{day.isoformat()}"


def delivery_mark_sent(*, day: dt.date, delivery_id: int) -> None:
    """Record, at once, that the mail server accepted this delivery's message.

    One HSET in Redis per email — a round trip with no SQL and no fsync —
    written to the PostgreSQL ledger in bulk by ``sent_marks_flush``. Any
    task that touches a claim applies the marks still waiting here first
    (``deliveries_claim`` does), so a mark outlives the worker that made it.
    """
    client = get_client()
    key = _sent_key(day)
    client.hset(key, str(delivery_id), dt.datetime.now(dt.UTC).isoformat())
    client.expire(key, 3 * 24 * 3600, nx=True)


def sent_marks_flush(*, day: dt.date, delivery_ids: list[int] | None = None) -> int:
    """Write waiting "sent" marks of ``day`` (all, or these deliveries) to the ledger; return how many."""
    client = get_client()
    key = _sent_key(day)
    if delivery_ids is None:
        marks = client.hgetall(key)
    else:
        if not delivery_ids:
            return 0
        values = client.hmget(key, [str(i) for i in delivery_ids])
        marks = {str(i): v for i, v in zip(delivery_ids, values, strict=True) if v is not None}
    if not marks:
        return 0
    sent_at = max(dt.datetime.fromisoformat(str(v)) for v in marks.values())
    # The Message-ID was stored with the claim: marking sent is one plain UPDATE.
    updated = Delivery.objects.filter(pk__in=[int(i) for i in marks], status=Delivery.Status.CLAIMED).update(
        status=Delivery.Status.SENT, sent_at=sent_at
    )
    client.hdel(key, *marks)
    return updated


@transaction.atomic
def delivery_mark_failed(*, delivery_id: int, task_id: str, error: str) -> None:
    """The mail server refused the address for good: record it, and free its releases for another day."""
    updated = Delivery.objects.filter(pk=delivery_id, task_id=task_id, status=Delivery.Status.CLAIMED).update(
        status=Delivery.Status.FAILED, error=error[:500]
    )
    if updated:
        DeliveredRelease.objects.filter(delivery_id=delivery_id).delete()
