"""Today's email, as the person it is for will get it (or got it)."""

import datetime as dt
from dataclasses import dataclass

from musicdrops.accounts.models import User
from musicdrops.drops import emails, selectors
from musicdrops.drops.models import DeliveredRelease, Delivery


@dataclass(frozen=True)
class DropPreview:
    sent: bool  # already sent today; else what the daily send would send now
    subject: str
    text: str
    html: str
    releases: int


def drop_preview(*, user: User, day: dt.date) -> DropPreview | None:
    """The user's drop for ``day``, or None when there is nothing to send them."""
    delivery = Delivery.objects.filter(user=user, day=day, status=Delivery.Status.SENT).first()
    if delivery is not None:
        release_ids = list(
            DeliveredRelease.objects.filter(delivery=delivery).values_list("release_group_id", flat=True)
        )
    else:
        release_ids = selectors.new_releases(user_ids=[user.pk], day=day).get(user.pk, [])
    found = selectors.drop_releases(release_ids=set(release_ids))
    releases = [found[pk] for pk in release_ids if pk in found]
    if not releases:
        return None
    subject, text, html = emails.render(user_id=user.pk, day=day, releases=releases)
    return DropPreview(sent=delivery is not None, subject=subject, text=text, html=html, releases=len(releases))
