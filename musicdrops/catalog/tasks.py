import contextlib

from celery import shared_task
from django.utils import timezone

from musicdrops.catalog import listenbrainz, musicbrainz, services, sync
from musicdrops.catalog.musicbrainz import MusicBrainzError
from musicdrops.lib.tasks import enqueue_on_commit


@shared_task
def sync_artist_now_task(artist_id: int) -> None:
    """Sync one artist someone just followed (routed to "important": they are looking at the page).

    Safe twice or concurrently: the artist's lease lets one sync fetch it; the other returns.
    """
    # A failure is logged in artist_sync; the periodic sync tries again after the back-off.
    with contextlib.suppress(MusicBrainzError):
        # Only if nobody synced it since it was followed: a second delivery is a no-op.
        sync.artist_sync(
            artist_id=artist_id,
            client=musicbrainz.default_client(),
            only_if_synced_before=timezone.now() - sync.RESYNC_AFTER,
        )


@shared_task(soft_time_limit=110, time_limit=140)
def sync_stale_artists_task() -> dict[str, int]:
    """Periodic: keep the catalogue fresh for up to 80 s at the shared MusicBrainz pace.

    First browses, then the batched searches that are due, then the
    authoritative browse sweep (musicdrops.catalog.sync.stale_artists_sync).
    Safe when dispatched twice or run concurrently: every artist is leased
    before it is browsed and every batch claimed before it is searched, so
    two runs split the work and never fetch the same thing twice at once.
    """
    return sync.stale_artists_sync(client=musicbrainz.default_client(), seconds=80)


@shared_task(soft_time_limit=110, time_limit=140)
def import_artists_task(job_id: int) -> None:
    """Match an import's names to MusicBrainz artists, about a minute per run, then continue in a new run.

    Safe twice: the job is leased and its progress saved after every name.
    """
    more = services.import_run(
        job_id=job_id,
        mb_client=musicbrainz.default_client(),
        lb_client=listenbrainz.default_client(),
        queue_sync=queue_artist_sync,
    )
    if more:
        queue_import(job_id)


def queue_artist_sync(artist_id: int) -> None:
    """Sync a newly followed artist at once, after the follow commits (on "important")."""
    enqueue_on_commit(sync_artist_now_task, artist_id=artist_id)


def queue_import(job_id: int) -> None:
    """Run (or continue) an import after its job commits (on "regular")."""
    enqueue_on_commit(import_artists_task, job_id=job_id)
