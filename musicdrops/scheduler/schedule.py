"""Every periodic job MusicDrops runs, in one place.

The beat only dispatches these; workers do the work. Each entry carries an
``expires`` so that a message delayed past its usefulness (a backlog, a
worker outage) is discarded instead of piling up behind the next run.
"""

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # About 80 s of MusicBrainz requests every two minutes: the rest of the
    # shared 1 request/s is left for searches and newly followed artists.
    "sync-stale-artists": {
        "task": "musicdrops.catalog.tasks.sync_stale_artists_task",
        "schedule": 120.0,
        "options": {"expires": 110},
    },
    "clear-expired-sessions": {
        "task": "musicdrops.accounts.tasks.clear_expired_sessions_task",
        "schedule": crontab(minute="17", hour="3"),
        "options": {"expires": 3600},
    },
}
