import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from musicdrops.catalog import musicbrainz, services, sync
from musicdrops.catalog.models import Artist


class Command(BaseCommand):
    help = "Fetch release groups from MusicBrainz: one artist (--artist MBID), or every followed artist that is due."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--artist", metavar="MBID", help="sync this artist now (added to the catalog if new)")
        parser.add_argument(
            "--seconds", type=float, default=600, help="without --artist: stop starting new artists after this long"
        )

    def handle(self, *args: Any, artist: str | None, seconds: float, **options: Any) -> None:
        client = musicbrainz.default_client()
        started = time.monotonic()
        if artist is None:
            figures = sync.stale_artists_sync(client=client, seconds=seconds)
            self.stdout.write(
                "synced {synced} artists, skipped {skipped} (being synced elsewhere), failed {failed}; "
                "searched {searched} artists in {searches} searches, {found} release groups found; "
                "{requests} requests".format(**figures)
                + f" in {time.monotonic() - started:.1f} s"
            )
            return
        try:
            mbid = services.parse_mbid(artist)
        except services.FollowError as error:
            raise CommandError(str(error)) from None
        row = Artist.objects.filter(mbid=mbid).first()
        if row is None:
            try:
                row = services.artist_upsert(hit=client.get_artist(mbid))
            except musicbrainz.MusicBrainzError as error:
                raise CommandError(f"MusicBrainz: {error}") from None
        try:
            result = sync.artist_sync(artist_id=row.pk, client=client)
        except musicbrainz.MusicBrainzError as error:
            raise CommandError(f"MusicBrainz: {error}") from None
        if result is None:
            raise CommandError(f"{row.name} is being synced by another process right now; try again in a minute.")
        self.stdout.write(
            f"{row.name}: {result.created} new, {result.updated} updated, {result.merged} merged, "
            f"{result.removed} removed; {client.requests_made} requests in {time.monotonic() - started:.1f} s"
        )
