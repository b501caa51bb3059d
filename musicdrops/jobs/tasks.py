from typing import Any

from celery import Task, shared_task
from django.conf import settings

from musicdrops.catalog import musicbrainz, sync


# throws: MusicBrainz being down is an expected failure: Celery logs it in one line, without a traceback.
@shared_task(
    bind=True, ignore_result=False, track_started=True, soft_time_limit=90, time_limit=120, throws=(sync.RefreshFailed,)
)
def refresh_library_task(self: Task[Any, Any], user_id: int) -> dict[str, int]:
    """ "Refresh now": sync the artists one user follows, reporting progress as it goes.

    Routed to "important" (someone is watching). Its result is stored, unlike
    most tasks', because the page polls it; it expires with every result after
    CELERY_RESULT_EXPIRES. Safe twice: artists are leased one at a time, and
    one synced a moment ago counts as fresh instead of being fetched again.
    """

    def report(progress: sync.RefreshResult) -> None:
        self.update_state(state="PROGRESS", meta=vars(progress))

    result = sync.library_refresh(
        user_id=user_id,
        client=musicbrainz.default_client(max_attempts=3),
        seconds=settings.REFRESH_SECONDS,
        on_progress=report,
    )
    return vars(result)
