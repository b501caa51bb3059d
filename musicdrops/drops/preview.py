"""A user's next (or latest) email, as they will get it (or got it), and the true reason when there is none."""

import datetime as dt
from dataclasses import dataclass

from musicdrops.accounts.models import Suppression, User
from musicdrops.accounts.zones import WEEKLY, delivery_time, period_of, zone
from musicdrops.catalog.models import Follow
from musicdrops.drops import emails
from musicdrops.drops.chunk import drop_releases
from musicdrops.drops.fanout import announcements_for, new_releases_for, slot_of
from musicdrops.drops.models import DeliveredRelease, Delivery, Due


def serving_slot(instant: dt.datetime) -> dt.datetime:
    """The slot that serves a delivery time: the first hour on the hour at or after it."""
    floor = slot_of(instant)
    return floor if floor == instant else floor + dt.timedelta(hours=1)


def next_delivery(
    *, after: dt.datetime, time_zone: str, hour: int, digest: str, weekday: int | None
) -> tuple[dt.date, dt.datetime]:
    """The next local date whose email this user is due, and the slot that sends it, at or after ``after``."""
    day = after.astimezone(zone(time_zone)).date() - dt.timedelta(days=1)
    for _ in range(16):
        if digest != WEEKLY or day.weekday() == weekday:
            slot = serving_slot(delivery_time(day=day, hour=hour, time_zone=time_zone))
            if slot >= slot_of(after):
                return day, slot
        day += dt.timedelta(days=1)
    raise ValueError(f"no delivery within two weeks of {after}")


@dataclass(frozen=True)
class DropPreview:
    sent: bool  # already sent for this period; else what the send would send now
    subject: str
    text: str
    html: str
    releases: int
    announced: int = 0


@dataclass(frozen=True)
class DropStatus:
    reason: str
    day: dt.date
    subject: str
    next_slot: dt.datetime
    sent_at: dt.datetime | None
    preview: DropPreview | None
    suppression: Suppression | None = None


REASONS = ("unconfirmed", "suppressed", "off", "no-follows", "sent", "nothing-new", "scheduled")


def drop_status(*, user: User, now: dt.datetime) -> DropStatus:
    """The email of the user's current period if it went, else their next one; and the first of REASONS that applies."""
    weekday = user.digest_weekday if user.digest == WEEKLY else None
    today = now.astimezone(zone(user.time_zone)).date()
    day, slot = next_delivery(
        after=now, time_zone=user.time_zone, hour=user.delivery_hour, digest=user.digest, weekday=weekday
    )
    delivery = (
        Delivery.objects.filter(user=user, period=period_of(day=today, digest=user.digest), status=Delivery.Status.SENT)
        .order_by("-sent_at")
        .first()
    )
    if delivery is not None:
        day = delivery.day
        held = DeliveredRelease.objects.filter(delivery=delivery).order_by("release_group_id")
        release_ids = list(held.filter(kind=DeliveredRelease.Kind.RELEASED).values_list("release_group_id", flat=True))
        announced_ids = list(
            held.filter(kind=DeliveredRelease.Kind.ANNOUNCED).values_list("release_group_id", flat=True)
        )
    else:
        period = period_of(day=day, digest=user.digest)
        due = Due(day=day, period=period, weekly=user.digest == WEEKLY, message_id="")
        release_ids = new_releases_for({user.pk: due}).get(user.pk, [])
        announced_ids = announcements_for({user.pk: due}).get(user.pk, [])
    preview = _preview(
        user=user, day=day, release_ids=release_ids, announced_ids=announced_ids, sent=delivery is not None
    )
    suppression = Suppression.objects.filter(email=user.email).first()
    if not user.email_verified:
        reason = "unconfirmed"
    elif suppression is not None:
        reason = "suppressed"
    elif not user.receives_drops or not user.is_active:
        reason = "off"
    elif not Follow.objects.filter(user=user).exists():
        reason = "no-follows"
    elif delivery is not None:
        reason = "sent"
    elif preview is None:
        reason = "nothing-new"
    else:
        reason = "scheduled"
    return DropStatus(
        reason=reason,
        day=day,
        subject=emails.subject_for(day),
        next_slot=slot,
        sent_at=delivery.sent_at if delivery else None,
        preview=preview,
        suppression=suppression,
    )


def _preview(
    *, user: User, day: dt.date, release_ids: list[int], announced_ids: list[int], sent: bool
) -> DropPreview | None:
    found = drop_releases(release_ids={*release_ids, *announced_ids})
    releases = [found[pk] for pk in release_ids if pk in found]
    announced = [found[pk] for pk in announced_ids if pk in found]
    if not releases and not announced:
        return None
    subject, text, html = emails.render(user_id=user.pk, day=day, releases=releases, announced=announced)
    return DropPreview(
        sent=sent, subject=subject, text=text, html=html, releases=len(releases), announced=len(announced)
    )
