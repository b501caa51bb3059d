"""The delivery ledger: one message per user per period (a local day, or an ISO week) per channel (email, push);
each release released at most once ever, and announced at most once ever, on each channel.

Its rules live here, beside the rows: queue once, claim only what is free, record only under the claim's token.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog.models import ReleaseGroup

INSERT_BATCH = 1000  # rows per INSERT ... VALUES statement (SQLite)
# Not status="due" by the primary key: PostgreSQL could pick a partial index of due rows and scan it per message.
_ONE_OPEN = ~Q(status__in=["sent", "failed"])


class DropSend(models.Model):
    """One slot's send. The fan-out pages through the due users by id; ``cursor`` is the last id it has done."""

    slot = models.DateTimeField(unique=True)
    started_at = models.DateTimeField(default=timezone.now)
    windows = models.JSONField(default=list)  # [time zone, local date, [delivery hours]]: who the slot serves
    cursor = models.BigIntegerField(default=0)
    queued = models.PositiveIntegerField(default=0)
    progress_at = models.DateTimeField(default=timezone.now)  # the fan-out's last page; stale: the sweep goes on
    fanned_out_at = models.DateTimeField(null=True, blank=True)  # every due user has a Delivery row

    def __str__(self) -> str:
        return f"send of {self.slot.astimezone(dt.UTC):%Y-%m-%dT%H:00Z}"


class Channel(models.TextChoices):
    EMAIL = "email", "email"
    PUSH = "push", "push"


class PushChannel(models.Model):
    """Where a fan's drops are pushed (an ntfy topic, a Discord or Slack webhook), and whether email goes on too."""

    class Kind(models.TextChoices):
        NTFY = "ntfy", "ntfy topic (ntfy.sh or your own server)"
        DISCORD = "discord", "Discord webhook"
        SLACK = "slack", "Slack-style incoming webhook"

    class Mode(models.TextChoices):
        EMAIL = "email", "Email only"
        BOTH = "both", "Email and push"
        PUSH = "push", "Push only"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="push_channel")  # fmt: skip
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.NTFY)
    url = models.URLField(max_length=500, blank=True)
    mode = models.CharField(max_length=5, choices=Mode.choices, default=Mode.EMAIL)

    def __str__(self) -> str:
        return f"{self.kind} push for {self.user_id}: {self.mode}"


def push_modes(*, user_ids: list[int]) -> dict[int, str]:
    """{user: "both" or "push"} of these users who have a push channel on; one query."""
    on = PushChannel.objects.filter(user_id__in=user_ids).exclude(url="").exclude(mode=PushChannel.Mode.EMAIL)
    return dict(on.values_list("user_id", "mode"))


class Delivery(models.Model):
    """One user's message on one channel for one period: due, then sent (or failed for good)."""

    class Status(models.TextChoices):
        DUE = "due", "due"
        SENT = "sent", "sent"
        FAILED = "failed", "failed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deliveries")
    slot = models.DateTimeField()
    day = models.DateField()  # the user's local date
    period = models.CharField(max_length=10)  # "2026-12-02", or "2026-W49" for a weekly digest
    channel = models.CharField(max_length=5, choices=Channel, default=Channel.EMAIL)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DUE)
    token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField()  # a claim's end; on a free row, when the sweep may queue it again
    queued_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["user", "period", "channel"], name="drops_one_message_per_user_period_channel"
            )
        ]
        indexes: ClassVar = [
            # Only due rows: claims, the sweep and /healthz read a slice of it, and it shrinks as the send goes on.
            models.Index(fields=["slot", "user"], name="drops_delivery_due_by_slot", condition=Q(status="due")),
            models.Index(fields=["queued_at"], name="drops_delivery_due", condition=Q(status="due")),
        ]

    def __str__(self) -> str:
        return f"drop for {self.user_id}, {self.period}: {self.status}"


class DeliveredRelease(models.Model):
    """A release in a user's email: out on its day (``released``), or upcoming and newly found (``announced``)."""

    class Kind(models.TextChoices):
        RELEASED = "released", "released"
        ANNOUNCED = "announced", "announced"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    release_group = models.ForeignKey(ReleaseGroup, on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="releases")
    kind = models.CharField(max_length=9, choices=Kind.choices, default=Kind.RELEASED)
    channel = models.CharField(max_length=5, choices=Channel, default=Channel.EMAIL)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["user", "release_group", "kind", "channel"], name="drops_release_once_per_user_kind_channel"
            )
        ]

    def __str__(self) -> str:
        return f"{self.release_group_id} {self.kind} to {self.user_id}"


@dataclass(frozen=True)
class Due:
    day: dt.date  # the user's local date the email is for
    period: str
    weekly: bool
    message_id: str


def deliveries_insert(
    *, slot: dt.datetime, due: dict[int, Due], now: dt.datetime, reserve_until: dt.datetime, channel: str = "email"
) -> dict[int, int]:
    """A due row of ``slot`` on ``channel`` for each user with none for the period, kept from the sweep until
    ``reserve_until``; {user: delivery} of the rows this call inserted: only their inserter queues them."""
    ops = connection.ops
    rows = [(u, d.message_id, ops.adapt_datefield_value(d.day), d.period) for u, d in due.items()]
    return dict(
        _insert_returning(
            "drops_delivery",
            {"user_id": "bigint", "message_id": "text", "day": "date", "period": "text"},
            rows,
            constants={
                "slot": ops.adapt_datetimefield_value(slot),
                "status": Delivery.Status.DUE.value,
                "token": "",
                "lease_until": ops.adapt_datetimefield_value(reserve_until),
                "queued_at": ops.adapt_datetimefield_value(now),
                "error": "",
                "channel": channel,
            },
            conflict="(user_id, period, channel)",
            returning="user_id, id",
        )
    )


def deliveries_hold_releases(
    *,
    inserted: dict[int, int],
    wanted: dict[int, list[int]],
    announced: dict[int, list[int]] | None = None,
    channel: str = "email",
) -> list[int]:
    """Tie each new row (of ``channel``) to its releases never sent before and its announcements never made before,
    drop rows left with none; the users kept, in id order."""
    released, upcoming = DeliveredRelease.Kind.RELEASED.value, DeliveredRelease.Kind.ANNOUNCED.value
    held = _insert_returning(
        "drops_deliveredrelease",
        {"user_id": "bigint", "release_group_id": "bigint", "delivery_id": "bigint", "kind": "text"},
        [(u, r, d, released) for u, d in inserted.items() for r in wanted.get(u, [])]
        + [(u, r, d, upcoming) for u, d in inserted.items() for r in (announced or {}).get(u, [])],
        constants={"channel": channel},
        conflict="(user_id, release_group_id, kind, channel)",
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
    announced_ids: list[int] = field(default_factory=list)  # upcoming releases, newly found
    channel: str = "email"


def _due_in(slot: dt.datetime, first: int, last: int) -> "models.QuerySet[Delivery]":
    return Delivery.objects.filter(slot=slot, user_id__gte=first, user_id__lte=last, status=Delivery.Status.DUE)


def deliveries_claim(
    *, slot: dt.datetime, first: int, last: int, token: str, now: dt.datetime, lease_until: dt.datetime
) -> dict[int, Claim]:
    """Claim for ``token`` the due email rows of users ``first``..``last`` nobody holds or whose lease ran out; by
    user."""
    return deliveries_claim_channels(
        slot=slot, first=first, last=last, token=token, now=now, lease_until=lease_until, channels=[Channel.EMAIL]
    )[Channel.EMAIL]


def deliveries_claim_channels(
    *,
    slot: dt.datetime,
    first: int,
    last: int,
    token: str,
    now: dt.datetime,
    lease_until: dt.datetime,
    channels: list[str] | None = None,
) -> dict[str, dict[int, Claim]]:
    """Claim for ``token`` the due rows (of ``channels``, else all) of users ``first``..``last`` nobody holds or whose
    lease ran out; {channel: {user: claim}}, in the same queries however many channels."""
    names = channels or list(Channel.values)
    # Forget free rows of users who stopped receiving drops (unsubscribed, deactivated) since the fan-out.
    _due_in(slot, first, last).filter(token="").exclude(
        user_id__in=User.objects.receiving_drops().filter(pk__gte=first, pk__lte=last).values("pk")
    ).delete()
    free = Q(token="") | Q(lease_until__lt=now)
    if channels:
        free &= Q(channel__in=names)
    _due_in(slot, first, last).filter(free).update(token=token, lease_until=lease_until)
    mine = {
        pk: (user_id, day, message, channel)
        for pk, user_id, day, message, channel in _due_in(slot, first, last)
        .filter(token=token)
        .values_list("pk", "user_id", "day", "message_id", "channel")
    }
    releases: dict[tuple[int, str], list[int]] = defaultdict(list)
    for delivery_id, release_id, kind in DeliveredRelease.objects.filter(delivery_id__in=mine).values_list(
        "delivery_id", "release_group_id", "kind"
    ):
        releases[delivery_id, kind].append(release_id)
    released, announced = DeliveredRelease.Kind.RELEASED, DeliveredRelease.Kind.ANNOUNCED
    claims: dict[str, dict[int, Claim]] = {name: {} for name in names}
    for pk, (user_id, day, message, channel) in mine.items():
        claims.setdefault(channel, {})[user_id] = Claim(
            pk, day, message, sorted(releases[pk, released]), sorted(releases[pk, announced]), channel
        )
    return claims


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
    *, slot: dt.datetime, now: dt.datetime, until: dt.datetime, limit: int, after: int = 0, reserved_too: bool = False
) -> list[int]:
    """Reserve until ``until`` up to ``limit`` users after ``after`` in ``slot`` whose lease ran out (``reserved_too``:
    any free one); return them in id order."""
    free = Q(lease_until__lt=now) | Q(token="") if reserved_too else Q(lease_until__lt=now)
    rows = (
        Delivery.objects.select_for_update(skip_locked=True)
        .filter(free, slot=slot, status=Delivery.Status.DUE, user_id__gt=after)
        .order_by("user_id")
    )
    found = dict(rows.values_list("pk", "user_id")[:limit])
    Delivery.objects.filter(pk__in=list(found)).update(token="", lease_until=until)
    return sorted(found.values())


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
