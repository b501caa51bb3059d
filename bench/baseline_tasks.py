"""The baseline the daily send is measured against: one task per user, the obvious way.

Loaded into a real worker with ``--include bench.baseline_tasks``. It is
correct (same ledger, same exactly-once rules) but does everything per user:
its own queries, Django's standard email building, and a new SMTP
connection for each message.
"""

import datetime as dt
import uuid

from celery import Task, shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.drops import emails, models
from musicdrops.drops.chunk import drop_releases
from musicdrops.drops.fanout import new_releases


@shared_task(bind=True, name="bench.send_one_drop")
def send_one_drop_task(self: Task, slot: str, user_id: int, day: str, period: str) -> bool:  # type: ignore[type-arg]
    when, local_day = dt.datetime.fromisoformat(slot), dt.date.fromisoformat(day)
    now = timezone.now()
    wanted = new_releases(user_ids=[user_id], day=local_day)
    due = {
        user_id: models.Due(day=local_day, period=period, weekly=False, message_id=emails.message_id(user_id, period))
    }
    inserted = models.deliveries_insert(slot=when, due=due, now=now, reserve_until=now)
    models.deliveries_hold_releases(inserted=inserted, wanted=wanted)
    token = uuid.uuid4().hex
    claimed = models.deliveries_claim(
        slot=when, first=user_id, last=user_id, token=token, now=now, lease_until=now + dt.timedelta(minutes=2)
    )
    if user_id not in claimed:
        return False
    delivery_id, release_ids = claimed[user_id].delivery_id, claimed[user_id].release_ids
    shown = drop_releases(release_ids=set(release_ids))
    user = User.objects.get(pk=user_id)
    subject, text, html = emails.render(user_id=user_id, day=local_day, releases=[shown[r] for r in release_ids])
    message = EmailMultiAlternatives(
        subject, text, settings.DEFAULT_FROM_EMAIL, [user.email],
        headers={"Message-ID": emails.message_id(user_id, period)},
    )  # fmt: skip
    message.attach_alternative(html, "text/html")
    message.send()  # opens and closes its own connection
    return models.delivery_mark_sent(delivery_id=delivery_id, token=token, now=timezone.now())
