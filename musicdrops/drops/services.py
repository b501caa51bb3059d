"""The send: fan out over the users a slot serves, send chunk by chunk, sweep up whoever is left."""

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.drops import emails, ledger, mailer, selectors
from musicdrops.drops.delivery_time import slot_label
from musicdrops.drops.models import DropSend

logger = logging.getLogger(__name__)

Queue = Callable[[dt.datetime, list[int]], None]

# Big enough to spread per-task costs (queries, an SMTP connection), small enough to finish in seconds.
CHUNK_SIZE = 500
# This many "try later" answers in a row: the server is throttling us, not one address.
TEMPORARY_IN_A_ROW = 3


@dataclass
class ChunkOutcome:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    later: list[int] = field(default_factory=list)
    time_up: bool = False  # handed back for lack of time (go on at once), not a "try later"
    lost_claim: bool = False
    seconds: float = 0.0


def drops_start(*, slot: dt.datetime, queue: Queue, catch_up_hours: int | None = None) -> int:
    """Record the slot's send (once) and fan out; return the users queued. ``slot``: an hour on the hour."""
    DropSend.objects.get_or_create(slot=slot)
    return drops_fan_out(slot=slot, queue=queue, catch_up_hours=catch_up_hours)


def day_slots(day: dt.date) -> list[dt.datetime]:
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return [midnight + dt.timedelta(hours=h) for h in range(24)]


def drops_start_day(*, day: dt.date, queue: Queue) -> int:
    """A whole UTC day's slots, each its own hour only: everyone whose delivery time falls in that day, once."""
    return sum(drops_start(slot=slot, queue=queue, catch_up_hours=1) for slot in day_slots(day))


def drops_fan_out(
    *, slot: dt.datetime, queue: Queue, catch_up_hours: int | None = None, chunk_size: int = CHUNK_SIZE
) -> int:
    """Insert and queue, in chunks, a due delivery for each user the slot serves who has something new.

    Safe twice or concurrently: a (user, period) row is inserted once, and only its inserter queues it.
    """
    hours = settings.DROPS_CATCH_UP_HOURS if catch_up_hours is None else catch_up_hours
    due = selectors.due_users(slot=slot, catch_up_hours=hours)
    ids = list(due)
    queued = 0
    for start in range(0, len(ids), chunk_size):
        batch = {u: due[u] for u in ids[start : start + chunk_size]}
        now = timezone.now()
        users = ledger.deliveries_queue(
            slot=slot,
            due=batch,
            wanted=selectors.new_releases_for(batch),
            now=now,
            reserve_until=now + dt.timedelta(seconds=settings.DROPS_PICKUP_SECONDS),
        )
        if users:
            queue(slot, users)
            queued += len(users)
    DropSend.objects.filter(slot=slot, fanned_out_at__isnull=True).update(fanned_out_at=timezone.now())
    # An hour that serves nobody (24 of them in a backfill) says so quietly.
    logger.log(logging.INFO if queued else logging.DEBUG, "drops for %s: %d users queued", slot_label(slot), queued)
    return queued


def drops_requeue(*, slot: dt.datetime, queue: Queue, all_free: bool = False, chunk_size: int = CHUNK_SIZE) -> int:
    """Queue again the users of ``slot`` still due whose lease ran out (``all_free``: any not held); how many."""
    now = timezone.now()
    users = ledger.deliveries_reserve_free(
        slot=slot, now=now, until=now + dt.timedelta(seconds=settings.DROPS_PICKUP_SECONDS), reserved_too=all_free
    )
    for start in range(0, len(users), chunk_size):
        queue(slot, users[start : start + chunk_size])
    return len(users)


def drops_sweep(*, queue: Queue) -> int:
    """Queue again everyone still due in a recent send whose claim ran out; fan out again an unfinished fan-out.

    Safe twice or concurrently: each row is reserved (row locks, skip-locked) by one sweep before it is queued.
    """
    now = timezone.now()
    pickup = dt.timedelta(seconds=settings.DROPS_PICKUP_SECONDS)
    queued = 0
    for send in DropSend.objects.filter(started_at__gte=now - dt.timedelta(hours=settings.DROPS_RETRY_HOURS)):
        if send.fanned_out_at is None and send.started_at < now - pickup:
            logger.warning("drops for %s: the fan-out did not finish; running it again", slot_label(send.slot))
            queued += drops_fan_out(slot=send.slot, queue=queue)
        again = drops_requeue(slot=send.slot, queue=queue)
        if again:
            logger.warning(
                "drops for %s: %d users still due after their chunk lapsed; queued again", slot_label(send.slot), again
            )
        queued += again
    return queued


def drops_resume(*, day: dt.date, queue: Queue) -> int:
    """The operator's recovery: queue whoever is still due in the day's slots so far, starting a past one never run."""
    queued = 0
    started = set(DropSend.objects.filter(slot__in=day_slots(day)).values_list("slot", flat=True))
    for slot in day_slots(day):
        if slot > timezone.now() and slot not in started:
            continue
        DropSend.objects.get_or_create(slot=slot)
        queued += drops_fan_out(slot=slot, queue=queue, catch_up_hours=1)
        queued += drops_requeue(slot=slot, queue=queue, all_free=True)
    return queued


def drop_chunk_send(*, slot: dt.datetime, user_ids: list[int], token: str) -> ChunkOutcome:
    """Send the drops of these users in ``slot`` under ``token``: claim, build, send, record each; hand back the rest.

    Safe twice or concurrently: only the attempt whose token holds a row sends to it and records it (ledger.py).
    """
    started = time.monotonic()
    deadline = started + settings.DROPS_CHUNK_SECONDS
    now = timezone.now()
    lease_until = now + dt.timedelta(seconds=settings.DROPS_LEASE_SECONDS)
    claimed = ledger.deliveries_claim(slot=slot, user_ids=user_ids, token=token, now=now, lease_until=lease_until)
    outcome = ChunkOutcome(claimed=len(claimed))
    if not claimed:
        return outcome
    shown = selectors.drop_releases(release_ids={r for c in claimed.values() for r in c.release_ids})
    addresses = dict(User.objects.filter(pk__in=list(claimed)).values_list("pk", "email"))
    renderers: dict[dt.date, emails.DropRenderer] = {}
    unsent = {c.delivery_id: user for user, c in claimed.items()}

    def build(user_id: int, claim: ledger.Claim) -> mailer.Email:
        releases = [shown[r] for r in claim.release_ids if r in shown]
        if (renderer := renderers.get(claim.day)) is None:
            renderer = renderers[claim.day] = emails.DropRenderer(day=claim.day)
        return renderer.build(
            user_id=user_id, email=addresses[user_id], releases=releases, message_id_=claim.message_id or None
        )

    def while_it_may() -> Iterator[tuple[tuple[int, ledger.Claim], mailer.Email]]:
        for user_id, claim in claimed.items():
            # The lease too: a worker resumed after a freeze finds it spent and sends nothing more.
            if time.monotonic() > deadline or timezone.now() >= lease_until:
                outcome.time_up = True
                return
            yield (user_id, claim), build(user_id, claim)

    in_a_row = 0
    try:
        with closing(mailer.send_each(while_it_may())) as results:
            for (user_id, claim), error in results:
                delivery_id = claim.delivery_id
                if error is None:
                    in_a_row = 0
                    if not ledger.delivery_mark_sent(delivery_id=delivery_id, token=token, now=timezone.now()):
                        # Frozen past the lease: another attempt holds the rest; this was the one in flight.
                        outcome.lost_claim = True
                        logger.warning("drops for %s: attempt %s lost its claims; stopping", slot_label(slot), token)
                        unsent.clear()
                        break
                    outcome.sent += 1
                elif mailer.is_permanent(error):
                    in_a_row = 0
                    ledger.delivery_mark_failed(delivery_id=delivery_id, token=token, error=str(error))
                    logger.warning("drops for %s: user %s refused for good: %s", slot_label(slot), user_id, error)
                    outcome.failed += 1
                else:
                    in_a_row += 1
                    logger.warning("drops for %s: user %s, try later: %s", slot_label(slot), user_id, error)
                    if in_a_row >= TEMPORARY_IN_A_ROW:
                        break
                    continue
                unsent.pop(delivery_id, None)
    except BaseException:
        # If the database is gone too, the leases run out and the sweep finds them.
        _hand_back(token=token, unsent=unsent, after=0)
        raise
    outcome.later = sorted(unsent.values())
    _hand_back(token=token, unsent=unsent, after=0 if outcome.time_up else settings.DROPS_RETRY_BACKOFF_MAX)
    outcome.seconds = time.monotonic() - started
    logger.info("drops for %s, attempt %s: %s", slot_label(slot), token, outcome)
    return outcome


def _hand_back(*, token: str, unsent: dict[int, int], after: float) -> None:
    if not unsent:
        return
    until = timezone.now() + dt.timedelta(seconds=after + settings.DROPS_PICKUP_SECONDS)
    try:
        ledger.deliveries_release(token=token, delivery_ids=list(unsent), until=until)
    except Exception:
        logger.warning("could not hand back %d claims; they lapse with their lease", len(unsent), exc_info=True)
