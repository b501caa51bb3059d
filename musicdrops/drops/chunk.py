"""The chunk: claim a range of a slot's due users, build each one's email, send, and record each in the ledger."""

import datetime as dt
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog.covers import cover_url
from musicdrops.catalog.models import ReleaseGroup
from musicdrops.drops import emails, mailer, models, push
from musicdrops.drops.emails import DropRelease
from musicdrops.drops.fanout import slot_label

logger = logging.getLogger(__name__)

# This many "try later" answers in a row: the server is throttling us, not one address.
TEMPORARY_IN_A_ROW = 3


@dataclass
class ChunkOutcome:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    later: list[int] = field(default_factory=list)
    time_up: bool = False  # handed back for lack of time (go on at once), not a "try later"
    retry_after: float | None = None  # the longest a push endpoint asked us to wait
    lost_claim: bool = False
    seconds: float = 0.0


def drop_chunk_send(*, slot: dt.datetime, first: int, last: int, token: str) -> ChunkOutcome:
    """Send the drops of users ``first``..``last`` in ``slot`` under ``token``: claim, build, send, record each; hand
    back the rest.

    Safe twice or concurrently: only the attempt whose token holds a row sends to it and records it (models.py).
    """
    started = time.monotonic()
    deadline = started + settings.DROPS_CHUNK_SECONDS
    now = timezone.now()
    lease_until = now + dt.timedelta(seconds=settings.DROPS_LEASE_SECONDS)
    # Emails and pushes in the same claim queries: none more per chunk when nobody has a push channel.
    channels = models.deliveries_claim_channels(
        slot=slot, first=first, last=last, token=token, now=now, lease_until=lease_until
    )
    claimed, pushes = channels[models.Channel.EMAIL], channels[models.Channel.PUSH]
    outcome = ChunkOutcome(claimed=len(claimed) + len(pushes))
    if not outcome.claimed:
        return outcome
    every = [*claimed.values(), *pushes.values()]
    shown = drop_releases(release_ids={r for c in every for r in (*c.release_ids, *c.announced_ids)})
    addresses = dict(User.objects.filter(pk__in=list(claimed)).values_list("pk", "email")) if claimed else {}
    renderers: dict[dt.date, emails.DropRenderer] = {}
    unsent = {c.delivery_id: user for user, c in [*claimed.items(), *pushes.items()]}

    def build(user_id: int, claim: models.Claim) -> mailer.Email:
        releases = [shown[r] for r in claim.release_ids if r in shown]
        announced = [shown[r] for r in claim.announced_ids if r in shown]
        if (renderer := renderers.get(claim.day)) is None:
            renderer = renderers[claim.day] = emails.DropRenderer(day=claim.day, stamp=slot)
        return renderer.build(user_id=user_id, email=addresses[user_id], releases=releases,
                              message_id_=claim.message_id or None, announced=announced)  # fmt: skip

    def while_it_may() -> Iterator[tuple[tuple[int, models.Claim], mailer.Email]]:
        for user_id, claim in claimed.items():
            # The lease too: a worker resumed after a freeze finds it spent and sends nothing more.
            if time.monotonic() > deadline or timezone.now() >= lease_until:
                outcome.time_up = True
                return
            yield (user_id, claim), build(user_id, claim)

    in_a_row = 0
    try:
        # No emails (push only): no connection to the mail server at all.
        with closing(mailer.send_each(while_it_may()) if claimed else _no_results()) as results:
            for (user_id, claim), error in results:
                delivery_id = claim.delivery_id
                if error is None:
                    in_a_row = 0
                    if not models.delivery_mark_sent(delivery_id=delivery_id, token=token, now=timezone.now()):
                        # Frozen past the lease: another attempt holds the rest; this was the one in flight.
                        outcome.lost_claim = True
                        logger.warning("drops for %s: attempt %s lost its claims; stopping", slot_label(slot), token)
                        unsent.clear()
                        break
                    outcome.sent += 1
                elif mailer.is_permanent(error):
                    in_a_row = 0
                    models.delivery_mark_failed(delivery_id=delivery_id, token=token, error=str(error))
                    logger.warning("drops for %s: user %s refused for good: %s", slot_label(slot), user_id, error)
                    outcome.failed += 1
                else:
                    in_a_row += 1
                    logger.warning("drops for %s: user %s, try later: %s", slot_label(slot), user_id, error)
                    if in_a_row >= TEMPORARY_IN_A_ROW:
                        break
                    continue
                unsent.pop(delivery_id, None)
        if pushes and not outcome.lost_claim:
            _push_each(slot=slot, token=token, pushes=pushes, shown=shown, until=(deadline, lease_until),
                       outcome=outcome, unsent=unsent)  # fmt: skip
    except BaseException:
        # If the database is gone too, the leases run out and the sweep finds them.
        _hand_back(token=token, unsent=unsent, after=0)
        raise
    outcome.later = sorted(set(unsent.values()))
    _hand_back(token=token, unsent=unsent, after=0 if outcome.time_up else settings.DROPS_RETRY_BACKOFF_MAX)
    outcome.seconds = time.monotonic() - started
    logger.info("drops for %s, attempt %s: %s", slot_label(slot), token, outcome)
    return outcome


def _no_results() -> Generator[tuple[tuple[int, models.Claim], Exception | None]]:
    yield from ()


def _push_each(
    *,
    slot: dt.datetime,
    token: str,
    pushes: dict[int, models.Claim],
    shown: dict[int, DropRelease],
    until: tuple[float, dt.datetime],
    outcome: ChunkOutcome,
    unsent: dict[int, int],
) -> None:
    """Push each claimed drop and record it under ``token`` as emails are; a try-later answer leaves the row due."""
    deadline, lease_until = until
    where = {c.user_id: c for c in models.PushChannel.objects.filter(user_id__in=list(pushes))}
    for user_id, claim in pushes.items():
        if time.monotonic() > deadline or timezone.now() >= lease_until:
            outcome.time_up = True
            return
        channel = where.get(user_id)
        if channel is None or not channel.url or channel.mode == models.PushChannel.Mode.EMAIL:
            result = push.Outcome(ok=False, detail="the push channel was turned off", permanent=True)
        else:
            title, text = push.push_text(
                day=claim.day,
                releases=[shown[r] for r in claim.release_ids if r in shown],
                announced=[shown[r] for r in claim.announced_ids if r in shown],
            )
            result = push.push_send(kind=channel.kind, url=channel.url, title=title, text=text)
        if result.ok:
            if not models.delivery_mark_sent(delivery_id=claim.delivery_id, token=token, now=timezone.now()):
                outcome.lost_claim = True
                logger.warning("drops for %s: attempt %s lost its claims; stopping", slot_label(slot), token)
                unsent.clear()
                return
            outcome.sent += 1
        elif result.permanent:
            models.delivery_mark_failed(delivery_id=claim.delivery_id, token=token, error=result.detail)
            logger.warning("drops for %s: push to user %s refused for good: %s", slot_label(slot), user_id,
                           result.detail)  # fmt: skip
            outcome.failed += 1
        else:
            logger.warning("drops for %s: push to user %s, try later: %s", slot_label(slot), user_id, result.detail)
            if result.retry_after is not None:
                outcome.retry_after = max(outcome.retry_after or 0.0, result.retry_after)
            continue
        unsent.pop(claim.delivery_id, None)


def _hand_back(*, token: str, unsent: dict[int, int], after: float) -> None:
    if not unsent:
        return
    until = timezone.now() + dt.timedelta(seconds=after + settings.DROPS_PICKUP_SECONDS)
    try:
        models.deliveries_release(token=token, delivery_ids=list(unsent), until=until)
    except Exception:
        logger.warning("could not hand back %d claims; they lapse with their lease", len(unsent), exc_info=True)


def drop_releases(*, release_ids: set[int]) -> dict[int, DropRelease]:
    """What the email shows for each release group, in two queries."""
    # Plain rows: prefetch_related would build a queryset per release group.
    credits: dict[int, list[tuple[str, str, str, str]]] = defaultdict(list)
    for release_id, artist_id, mbid, name, disambiguation in (
        ReleaseGroup.artists.through.objects.filter(releasegroup_id__in=release_ids)
        .order_by("artist__name", "artist_id")
        .values_list("releasegroup_id", "artist_id", "artist__mbid", "artist__name", "artist__disambiguation")
    ):
        full = f"{name} ({disambiguation})" if disambiguation else name
        credits[release_id].append((str(artist_id), name, full, _page("front:artist", mbid)))
    return {
        rg.pk: DropRelease(
            title=rg.title,
            artists=" & ".join(name for _, name, _, _ in credits[rg.pk]) or "Unknown artist",
            kind=rg.get_kind_display(),
            date=rg.release_date_display,
            url=_page("front:release", rg.mbid),
            artist_key=",".join(key for key, _, _, _ in credits[rg.pk]),
            artists_full=" & ".join(full for _, _, full, _ in credits[rg.pk]),
            credits=tuple((name, full, url) for _, name, full, url in credits[rg.pk]),
            cover_url=cover_url(rg.mbid),
            mbid=str(rg.mbid),
            day=rg.first_release_date,
            precision=rg.date_precision,
        )
        for rg in ReleaseGroup.objects.filter(pk__in=release_ids)
    }


def _page(view: str, mbid: uuid.UUID) -> str:
    return settings.SITE_URL + reverse(view, args=[mbid])
