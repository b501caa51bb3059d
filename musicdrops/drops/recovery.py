"""The operator's ways in (``send_music_drops --date`` and ``--resume``): a whole day's slots, in this process."""

import datetime as dt

from django.utils import timezone

from musicdrops.drops.fanout import Queue, drops_fan_out, drops_requeue, drops_start
from musicdrops.drops.models import DropSend


def day_slots(day: dt.date) -> list[dt.datetime]:
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return [midnight + dt.timedelta(hours=h) for h in range(24)]


def drops_start_day(*, day: dt.date, queue: Queue) -> int:
    """A whole UTC day's slots, each its own hour only: everyone whose delivery time falls in that day, once."""
    queued = 0
    for slot in day_slots(day):
        drops_start(slot=slot, catch_up_hours=1)
        queued += drops_fan_out(slot=slot, queue=queue)
    return queued


def drops_resume(*, day: dt.date, queue: Queue) -> int:
    """The operator's recovery: queue whoever is still due in the day's slots so far, starting a past one never run."""
    queued = 0
    started = set(DropSend.objects.filter(slot__in=day_slots(day)).values_list("slot", flat=True))
    for slot in day_slots(day):
        if slot > timezone.now() and slot not in started:
            continue
        if slot not in started:
            drops_start(slot=slot, catch_up_hours=1)
        queued += drops_fan_out(slot=slot, queue=queue)
        after = 0
        while again := drops_requeue(slot=slot, queue=queue, all_free=True, after=after):
            queued, after = queued + len(again), again[-1]
    return queued
