"""Every periodic job MusicDrops runs, in one place. The beat only dispatches them; each entry ``expires``, so a
message delayed past its usefulness (a backlog, a worker outage) is dropped instead of piling up."""

from typing import Any

from celery.schedules import crontab, schedule
from django.core.exceptions import ImproperlyConfigured


def parse_cron(expression: str) -> crontab:
    """A 5-field crontab ("minute hour day-of-month month day-of-week"), UTC."""
    fields = expression.split()
    if len(fields) != 5:
        raise ImproperlyConfigured(f"MUSIC_DROPS_CRON needs 5 fields, e.g. '0 * * * *', not {expression!r}")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    try:
        return crontab(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year, day_of_week=day_of_week
        )
    except (ValueError, TypeError) as error:
        raise ImproperlyConfigured(f"MUSIC_DROPS_CRON {expression!r}: {error}") from None


SEND_ENTRY = "send-music-drops"


def beat_schedule(
    *,
    drops_cron: str,
    drops_every_seconds: int = 0,
    sweep_seconds: int = 300,
    ping_seconds: int = 60,
    ping_expires: int = 300,
    queues: tuple[str, ...],
) -> dict[str, dict[str, Any]]:
    return {
        # The email, every hour on the hour: each hour serves the users whose delivery hour it is
        # (musicdrops.drops.fanout). Dispatched once per slot; see musicdrops.scheduler.slots.
        SEND_ENTRY: {
            "task": "musicdrops.drops.tasks.send_music_drops_task",
            "schedule": schedule(drops_every_seconds) if drops_every_seconds else parse_cron(drops_cron),
            "options": {"expires": 6 * 3600},
        },
        # Everyone a recent send left behind (a lost chunk, a dead worker) is queued again.
        "sweep-music-drops": {
            "task": "musicdrops.drops.tasks.sweep_music_drops_task",
            "schedule": float(sweep_seconds),
            "options": {"expires": max(1, sweep_seconds - 1)},
        },
        # About 80 s of MusicBrainz requests every two minutes: the rest of the
        # shared 1 request/s is left for searches and newly followed artists.
        "sync-stale-artists": {
            "task": "musicdrops.catalog.tasks.sync_stale_artists_task",
            "schedule": 120.0,
            "options": {"expires": 110},
        },
        # The ledger keeps DROPS_KEEP_DAYS: a few batches an hour keep it there (musicdrops/drops/retention.py).
        "trim-drops-ledger": {
            "task": "musicdrops.drops.tasks.trim_drops_ledger_task",
            "schedule": crontab(minute="41"),
            "options": {"expires": 3000},
        },
        "clear-expired-sessions": {
            "task": "musicdrops.accounts.tasks.clear_expired_sessions_task",
            "schedule": crontab(minute="17", hour="3"),
            "options": {"expires": 3600},
        },
        # A message into every queue: one that nobody takes grows old, and /healthz says so
        # (queue-stuck) even when no real work is waiting. Expired ones are dropped unrun.
        **{
            f"ping-{queue}": {
                "task": "musicdrops.ops.tasks.ping_queue_task",
                "schedule": float(ping_seconds),
                "args": (queue,),
                "options": {"queue": queue, "expires": ping_expires},
            }
            for queue in queues
        },
    }
