import contextlib

from celery import shared_task
from django.utils import timezone

from musicdrops.catalog import deezer, lastfm, listenbrainz, musicbrainz, services, sync
from musicdrops.catalog.musicbrainz import MusicBrainzError
from musicdrops.celery import enqueue_on_commit


@shared_task
def sync_artist_now_task(artist_id: int) -> None:
    """Sync an artist someone just followed; safe twice: the lease lets one sync fetch it, if unsynced since."""
    # A failure is logged in artist_sync; the periodic sync tries again after the back-off.
    with contextlib.suppress(MusicBrainzError):
        sync.artist_sync(
            artist_id=artist_id,
            client=musicbrainz.default_client(),
            only_if_synced_before=timezone.now() - sync.RESYNC_AFTER,
        )


@shared_task(soft_time_limit=110, time_limit=140)
def sync_stale_artists_task() -> dict[str, int]:
    """Periodic: keep the catalogue fresh for 80 s; safe twice, as artists are leased and batches claimed."""
    return sync.stale_artists_sync(client=musicbrainz.default_client(), seconds=80)


@shared_task(soft_time_limit=110, time_limit=140)
def import_artists_task(job_id: int) -> None:
    """Match an import's names for about a minute, then continue in a new run; safe twice: the job is leased."""
    more = services.import_run(
        job_id=job_id,
        # Three tries, not five: someone is watching, and a MusicBrainz that is down is said so within a minute.
        mb_client=musicbrainz.default_client(max_attempts=3),
        lb_client=listenbrainz.default_client(),
        lastfm_client=lastfm.default_client(),
        deezer_client=deezer.default_client(),
        queue_sync=queue_artist_sync,
    )
    if more:
        queue_import(job_id)


def queue_artist_sync(artist_id: int) -> None:
    enqueue_on_commit(sync_artist_now_task, artist_id=artist_id)


def queue_import(job_id: int) -> None:
    enqueue_on_commit(import_artists_task, job_id=job_id)
