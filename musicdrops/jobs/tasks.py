import uuid

from celery import shared_task
from django.conf import settings
from django.db import transaction

from musicdrops.catalog import musicbrainz, sync
from musicdrops.jobs import services
from musicdrops.jobs.models import RUNS_AT_MOST


# throws: MusicBrainz being down is an expected failure: Celery logs it in one line, without a traceback.
@shared_task(soft_time_limit=90, time_limit=int(RUNS_AT_MOST.total_seconds()), throws=(sync.RefreshFailed,))
def refresh_library_task(job_id: str) -> None:
    """ "Refresh now", which someone is watching. Safe twice: see services.refresh_run."""
    services.refresh_run(
        job_id=job_id, client=musicbrainz.default_client(max_attempts=3), seconds=settings.REFRESH_SECONDS
    )


def queue_refresh(job_id: uuid.UUID) -> None:
    """Queue the job's task after the commit, under the job's id, so the worker's log names the job."""
    # robust: a broker outage leaves a job that never starts, which the page reads as such.
    transaction.on_commit(
        lambda: refresh_library_task.apply_async(kwargs={"job_id": str(job_id)}, task_id=str(job_id)), robust=True
    )
