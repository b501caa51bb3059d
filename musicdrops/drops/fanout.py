"""The fan-out: who a slot serves (docs/delivery-times.md), paged by user id into due rows, queued in chunks."""

import datetime as dt
import functools
import logging
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.accounts.zones import DAILY, WEEKLY, delivery_time, period_of, zone
from musicdrops.catalog.models import DEFAULT_KINDS, DatePrecision, Follow, ReleasePreferences
from musicdrops.drops import models
from musicdrops.drops.emails import message_id
from musicdrops.drops.models import DeliveredRelease, DropSend, Due, PushChannel
from musicdrops.redis_client import get_client

logger = logging.getLogger(__name__)

Queue = Callable[[dt.datetime, list[int]], None]

PAGE = 1000  # users per fan-out task: its time and memory stay the same however big the slot
CHUNK_SIZE = 500  # spreads per-task costs (queries, an SMTP connection), small enough to finish in seconds
SWEEP_BATCH = 20 * CHUNK_SIZE  # users a sweep queues again per slot; the next sweep takes the rest
QUEUES_MARK = "musicdrops:queues-kept"  # no expiry: gone means Redis came back empty, and the queues with it
# Days back a release still counts as new: we may learn of it late; a weekly digest looks back a week further.
NEW_FOR_DAYS = 7
NEW_FOR_DAYS_WEEKLY = NEW_FOR_DAYS + 7


def slot_of(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def slot_label(slot: dt.datetime) -> str:
    return f"{slot.astimezone(dt.UTC):%Y-%m-%dT%H:00Z}"


@dataclass(frozen=True)
class Window:
    """Users of ``time_zone`` whose delivery hour is one of ``hours`` are due their email of ``day``."""

    time_zone: str
    day: dt.date
    hours: tuple[int, ...]


def due_windows(*, slot: dt.datetime, time_zones: Iterable[str], catch_up_hours: int) -> list[Window]:
    """For each zone, the (local date, delivery hours) with a delivery time in (slot - catch_up_hours, slot].

    Where an hour falls in the window on two local dates (a DST change in a day-long window), the later wins.
    """
    earliest = slot - dt.timedelta(hours=max(1, catch_up_hours))
    windows = []
    for name in sorted(set(time_zones)):
        tz = zone(name)
        first, last = earliest.astimezone(tz).date(), slot.astimezone(tz).date()
        by_hour: dict[int, dt.date] = {}
        day = first
        while day <= last:
            for hour in range(24):
                if earliest < delivery_time(day=day, hour=hour, time_zone=name) <= slot:
                    by_hour[hour] = day
            day += dt.timedelta(days=1)
        by_day: dict[dt.date, list[int]] = {}
        for hour, day in sorted(by_hour.items()):
            by_day.setdefault(day, []).append(hour)
        windows += [Window(name, day, tuple(hours)) for day, hours in sorted(by_day.items())]
    return windows


def drops_start(*, slot: dt.datetime, catch_up_hours: int | None = None) -> None:
    """Record the slot's send and who it serves; a finished fan-out starts over, as each dispatch serves the slot."""
    hours = settings.DROPS_CATCH_UP_HOURS if catch_up_hours is None else catch_up_hours
    zones = User.objects.receiving_drops().order_by().values_list("time_zone", flat=True).distinct()
    found = due_windows(slot=slot, time_zones=zones, catch_up_hours=hours)
    windows = [[w.time_zone, w.day.isoformat(), list(w.hours)] for w in found]
    send, created = DropSend.objects.get_or_create(slot=slot, defaults={"windows": windows})
    if not created and send.fanned_out_at is not None:
        restart = {"windows": windows, "cursor": 0, "fanned_out_at": None, "progress_at": timezone.now()}
        DropSend.objects.filter(pk=send.pk, fanned_out_at__isnull=False).update(**restart)


def drops_fan_out_page(*, slot: dt.datetime, page: int = PAGE) -> tuple[list[int], bool]:
    """Insert the due rows of the slot's next ``page`` users; return (the users to queue, whether it is done).

    Safe twice or concurrently: a row is inserted (and queued) once; the cursor moves only from where the page began.
    """
    send = DropSend.objects.get(slot=slot)
    if send.fanned_out_at is not None:
        return [], True
    windows = [Window(tz, dt.date.fromisoformat(day), tuple(hours)) for tz, day, hours in send.windows]
    due = due_page(windows, after=send.cursor, limit=page)
    now = timezone.now()
    done = len(due) < page
    with transaction.atomic():
        until = now + dt.timedelta(seconds=settings.DROPS_PICKUP_SECONDS)
        # Push channels: one query a page; a row beside the email's (or in its place) for each fan who has one on.
        pushing = models.push_modes(user_ids=list(due))
        emailed = {u: d for u, d in due.items() if pushing.get(u) != PushChannel.Mode.PUSH}
        inserted = models.deliveries_insert(slot=slot, due=emailed, now=now, reserve_until=until)
        pushed: dict[int, int] = {}
        if pushing:
            pushes = {u: due[u] for u in pushing}
            pushed = models.deliveries_insert(slot=slot, due=pushes, now=now, reserve_until=until, channel="push")
        fresh = {*inserted, *pushed}
        wanted, announced = new_releases_for(due, only=fresh), announcements_for(due, only=fresh)
        users = models.deliveries_hold_releases(inserted=inserted, wanted=wanted, announced=announced)
        if pushed:
            held = models.deliveries_hold_releases(inserted=pushed, wanted=wanted, announced=announced, channel="push")
            users = sorted({*users, *held})
        moved = DropSend.objects.filter(pk=send.pk, cursor=send.cursor, fanned_out_at__isnull=True).update(
            cursor=max(due, default=send.cursor), progress_at=now, fanned_out_at=now if done else None,
            queued=send.queued + len(users),
        )  # fmt: skip
        if not moved:  # another fan-out of this send took the page
            transaction.set_rollback(True)
            return [], True
    if done:
        total = send.queued + len(users)
        logger.log(logging.INFO if total else logging.DEBUG, "drops for %s: %d users queued", slot_label(slot), total)
    return users, done


def drops_fan_out(*, slot: dt.datetime, queue: Queue) -> int:
    """The whole fan-out in this process, page by page (the command); return the users queued."""
    queued, done = 0, False
    while not done:
        users, done = drops_fan_out_page(slot=slot)
        queue_in_chunks(slot, users, queue)
        queued += len(users)
    return queued


def queue_in_chunks(slot: dt.datetime, users: list[int], queue: Queue) -> None:
    for start in range(0, len(users), CHUNK_SIZE):
        queue(slot, users[start : start + CHUNK_SIZE])


def due_page(windows: list[Window], *, after: int, limit: int) -> dict[int, Due]:
    """Recipients after user ``after`` who follow someone and whose delivery time is in ``windows``; by id."""
    if not windows:
        return {}
    local_day = {(w.time_zone, hour): w.day for w in windows for hour in w.hours}
    terms = [
        Q(time_zone=w.time_zone, delivery_hour__in=w.hours)
        & (Q(digest=DAILY) | Q(digest=WEEKLY, digest_weekday=w.day.weekday()))
        for w in windows
    ]
    rows = (
        User.objects.receiving_drops()
        .filter(functools.reduce(operator.or_, terms), Exists(Follow.objects.filter(user=OuterRef("pk"))), pk__gt=after)
        .order_by("pk")
        .values_list("pk", "time_zone", "delivery_hour", "digest")[:limit]
    )
    due = {}
    for pk, time_zone, hour, digest in rows:
        day = local_day[time_zone, hour]
        period = period_of(day=day, digest=digest)
        due[pk] = Due(day=day, period=period, weekly=digest == WEEKLY, message_id=message_id(pk, period))
    return due


def new_releases_for(due: dict[int, Due], *, only: Iterable[int] | None = None) -> dict[int, list[int]]:
    """``new_releases`` of each due user (of ``only``), on their own local date: a query set per date and cadence."""
    return _by_day_and_cadence(new_releases, due, only)


def announcements_for(due: dict[int, Due], *, only: Iterable[int] | None = None) -> dict[int, list[int]]:
    """``announcements`` of each due user (of ``only``), on their own local date, like ``new_releases_for``."""
    return _by_day_and_cadence(announcements, due, only)


def _by_day_and_cadence(
    select: Callable[..., dict[int, list[int]]], due: dict[int, Due], only: Iterable[int] | None
) -> dict[int, list[int]]:
    groups: dict[tuple[dt.date, bool], list[int]] = defaultdict(list)
    for user_id in due if only is None else only:
        groups[due[user_id].day, due[user_id].weekly].append(user_id)
    found: dict[int, list[int]] = {}
    for (day, weekly), user_ids in groups.items():
        found |= select(user_ids=user_ids, day=day, days=NEW_FOR_DAYS_WEEKLY if weekly else NEW_FOR_DAYS)
    return found


def new_releases(*, user_ids: list[int], day: dt.date, days: int = NEW_FOR_DAYS) -> dict[int, list[int]]:
    """For each user, the release groups new on ``day`` (dated within ``days`` of it) they want and were never sent."""
    eligible = User.objects.receiving_drops().filter(pk__in=user_ids).values("pk")
    rows = Follow.objects.filter(
        user_id__in=eligible,
        artist__release_groups__date_precision=DatePrecision.DAY,
        artist__release_groups__first_release_date__gt=day - dt.timedelta(days=days),
        artist__release_groups__first_release_date__lte=day,
        artist__release_groups__removed_at__isnull=True,
    ).values_list("user_id", "artist__release_groups__id", "artist__release_groups__kind")
    candidates, kinds_of = _by_user(rows)
    if not candidates:
        return {}
    chosen = ReleasePreferences.objects.filter(user_id__in=candidates)
    wanted = {p.user_id: set(p.wanted_kinds()) if p.on_release_day else set() for p in chosen}
    return _unsent(candidates, kinds_of, wanted, DeliveredRelease.Kind.RELEASED)


def announcements(*, user_ids: list[int], day: dt.date, days: int = NEW_FOR_DAYS) -> dict[int, list[int]]:
    """For each user who asked for announcements, the release groups dated after ``day`` (at any precision) that the
    catalogue found within ``days`` up to it, that they want and were never announced."""
    eligible = User.objects.receiving_drops().filter(pk__in=user_ids).values("pk")
    # Off by default: one query on the page's opted-in fans, and nothing more for everyone else.
    wanted = {
        p.user_id: set(p.wanted_kinds())
        for p in ReleasePreferences.objects.filter(user_id__in=eligible, when_announced=True)
    }
    if not wanted:
        return {}
    # Found on a UTC date in (day - days, day]: the same look-back as a release date's, for a date and time.
    since = dt.datetime.combine(day - dt.timedelta(days=days - 1), dt.time(), tzinfo=dt.UTC)
    rows = Follow.objects.filter(
        user_id__in=list(wanted),
        artist__release_groups__date_precision__in=[DatePrecision.DAY, DatePrecision.MONTH, DatePrecision.YEAR],
        artist__release_groups__first_release_date__gt=day,
        artist__release_groups__first_seen_at__gte=since,
        artist__release_groups__first_seen_at__lt=since + dt.timedelta(days=days),
        artist__release_groups__removed_at__isnull=True,
    ).values_list("user_id", "artist__release_groups__id", "artist__release_groups__kind")
    candidates, kinds_of = _by_user(rows)
    if not candidates:
        return {}
    return _unsent(candidates, kinds_of, wanted, DeliveredRelease.Kind.ANNOUNCED)


def _by_user(rows: Iterable[tuple[int, int, str]]) -> tuple[dict[int, set[int]], dict[int, str]]:
    """(user, release, its kind) rows as each user's releases, and each release's kind."""
    candidates: dict[int, set[int]] = defaultdict(set)
    kinds_of: dict[int, str] = {}
    for user_id, release_id, kind in rows:
        candidates[user_id].add(release_id)
        kinds_of[release_id] = kind
    return candidates, kinds_of


def _unsent(
    candidates: dict[int, set[int]], kinds_of: dict[int, str], wanted: dict[int, set[str]], kind: str
) -> dict[int, list[int]]:
    """Of each user's candidates, those of a kind they want that the ledger has no ``kind`` row of; in id order."""
    sent = set(
        DeliveredRelease.objects.filter(user_id__in=candidates, release_group_id__in=kinds_of, kind=kind).values_list(
            "user_id", "release_group_id"
        )
    )
    result = {}
    for user_id, releases in candidates.items():
        kinds = wanted.get(user_id, set(DEFAULT_KINDS))
        new = sorted(r for r in releases if kinds_of[r] in kinds and (user_id, r) not in sent)
        if new:
            result[user_id] = new
    return result


def drops_requeue(
    *, slot: dt.datetime, queue: Queue, all_free: bool = False, after: int = 0, limit: int = SWEEP_BATCH
) -> list[int]:
    """Queue again up to ``limit`` users of ``slot`` after ``after``, still due, whose lease ran out (``all_free``:
    any not held); return them."""
    now = timezone.now()
    until = now + dt.timedelta(seconds=settings.DROPS_PICKUP_SECONDS)
    users = models.deliveries_reserve_free(slot=slot, now=now, until=until, limit=limit, after=after,
                                           reserved_too=all_free)  # fmt: skip
    queue_in_chunks(slot, users, queue)
    return users


def drops_sweep(*, queue: Queue, queue_page: Callable[[dt.datetime], None]) -> int:
    """Take up a stalled fan-out; queue again, in batches, whoever's chunk lapsed (all not being sent, when Redis came
    back empty). Safe twice: one sweep takes up a fan-out (a conditional update), one reserves each row (skip-locked).
    """
    now = timezone.now()
    emptied = bool(get_client().set(QUEUES_MARK, "1", nx=True))
    stalled = now - dt.timedelta(seconds=settings.DROPS_FAN_OUT_STALL_SECONDS)
    queued = 0
    for send in DropSend.objects.filter(started_at__gte=now - dt.timedelta(hours=settings.DROPS_RETRY_HOURS)):
        late = send.fanned_out_at is None and (emptied or send.progress_at < stalled)
        if late and DropSend.objects.filter(pk=send.pk, progress_at=send.progress_at).update(progress_at=now):
            logger.warning("drops for %s: the fan-out stopped after user %d; going on", slot_label(send.slot),
                           send.cursor)  # fmt: skip
            queue_page(send.slot)
        batch = drops_requeue(slot=send.slot, queue=queue, all_free=emptied)
        again = list(batch)
        while emptied and len(batch) == SWEEP_BATCH:  # every one now: their messages are gone
            batch = drops_requeue(slot=send.slot, queue=queue, all_free=True, after=batch[-1])
            again += batch
        if again:
            logger.warning("drops for %s: %d users still due %s; queued again", slot_label(send.slot), len(again),
                           "after Redis came back empty" if emptied else "after their chunk lapsed")  # fmt: skip
        queued += len(again)
    return queued
