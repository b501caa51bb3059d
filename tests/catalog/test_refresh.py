"""library_refresh: what "refresh now" does for one user."""

import datetime as dt
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog import musicbrainz, sync
from musicdrops.catalog.models import Artist, Follow, ReleaseGroup
from tests.catalog.upstream import fixture_mbid, garbage, many_release_groups

pytestmark = pytest.mark.django_db(transaction=True)


def quick_client(upstream) -> musicbrainz.MusicBrainzClient:
    return musicbrainz.MusicBrainzClient(
        base_url=upstream.musicbrainz_url,
        user_agent="MusicDrops-tests/1 ( test@example.com )",
        rate_limiter=musicbrainz.default_client().rate_limiter,
        max_attempts=2,
        sleep=lambda seconds: None,
    )


def follows(user: User, count: int, upstream, *, prefix: str = "refresh") -> list[Artist]:
    artists = []
    for n in range(count):
        mbid = fixture_mbid(prefix, str(n))
        upstream.set_release_groups(mbid, many_release_groups(n + 1, seed=mbid))
        artist = Artist.objects.create(mbid=mbid, name=f"Artist {n}")
        Follow.objects.create(user=user, artist=artist)
        artists.append(artist)
    return artists


def test_it_syncs_only_the_users_artists_and_reports_progress(upstream):
    fan = User.objects.create_user("fan@example.com", "long-enough-password")
    other = User.objects.create_user("other@example.com", "long-enough-password")
    follows(fan, 3, upstream)
    follows(other, 2, upstream, prefix="other")
    seen: list[tuple[int, int]] = []

    result = sync.library_refresh(
        user_id=fan.pk,
        client=quick_client(upstream),
        seconds=30,
        on_progress=lambda r: seen.append((r.checked, r.total)),
    )

    assert (result.total, result.checked, result.fresh, result.failed, result.left) == (3, 3, 0, 0, 0)
    assert result.new_releases == 1 + 2 + 3 == ReleaseGroup.objects.count()
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert len(upstream.browse_requests()) == 3  # the other user's artists were not fetched


def test_a_second_refresh_right_after_fetches_nothing(upstream):
    fan = User.objects.create_user("fan@example.com", "long-enough-password")
    follows(fan, 2, upstream)
    sync.library_refresh(user_id=fan.pk, client=quick_client(upstream), seconds=30)

    again = sync.library_refresh(user_id=fan.pk, client=quick_client(upstream), seconds=30)

    assert (again.checked, again.fresh) == (0, 2)
    assert len(upstream.browse_requests()) == 2


def test_artists_synced_long_ago_are_fetched_again(upstream):
    fan = User.objects.create_user("fan@example.com", "long-enough-password")
    [artist] = follows(fan, 1, upstream)
    Artist.objects.filter(pk=artist.pk).update(synced_at=timezone.now() - sync.REFRESH_AFTER - dt.timedelta(seconds=1))

    result = sync.library_refresh(user_id=fan.pk, client=quick_client(upstream), seconds=30)

    assert result.checked == 1


def test_when_musicbrainz_answers_for_none_it_fails_with_a_clear_reason(upstream):
    fan = User.objects.create_user("fan@example.com", "long-enough-password")
    for artist in follows(fan, 2, upstream):
        upstream.always(str(artist.mbid), garbage())

    with pytest.raises(sync.RefreshFailed, match="MusicBrainz is not answering"):
        sync.library_refresh(user_id=fan.pk, client=quick_client(upstream), seconds=30)


def test_some_failures_are_reported_but_are_not_a_failed_refresh(upstream):
    fan = User.objects.create_user("fan@example.com", "long-enough-password")
    artists = follows(fan, 2, upstream)
    upstream.always(str(artists[0].mbid), garbage())

    result = sync.library_refresh(user_id=fan.pk, client=quick_client(upstream), seconds=30)

    assert (result.checked, result.failed) == (1, 1)


def test_what_the_deadline_leaves_is_counted_for_the_background_sync(upstream):
    fan = User.objects.create_user("fan@example.com", "long-enough-password")
    follows(fan, 3, upstream)

    result = sync.library_refresh(user_id=fan.pk, client=quick_client(upstream), seconds=0)

    assert (result.checked, result.left) == (0, 3)
    assert upstream.browse_requests() == []


def test_following_nobody_is_a_quick_success(upstream):
    fan = User.objects.create_user("fan@example.com", "long-enough-password")

    result = sync.library_refresh(user_id=fan.pk, client=quick_client(upstream), seconds=30)

    assert result.total == 0


def test_an_artist_another_sync_is_fetching_is_waited_for_not_reported_done(upstream):
    fan = User.objects.create_user("fan@example.com", "long-enough-password")
    [busy, other] = follows(fan, 2, upstream)
    # A follow's own sync holds the lease and has not written anything yet.
    assert sync.artist_claim(artist_id=busy.pk)
    seen: list[tuple[int, int]] = []

    def finish_the_other_sync() -> None:
        time.sleep(1)
        sync.release_groups_apply(artist=busy, groups=[], now=timezone.now())
        connection.close()

    other_sync = threading.Thread(target=finish_the_other_sync)
    other_sync.start()
    started = time.monotonic()
    result = sync.library_refresh(
        user_id=fan.pk,
        client=quick_client(upstream),
        seconds=30,
        on_progress=lambda r: seen.append((r.checked, r.fresh)),
    )
    other_sync.join()

    assert time.monotonic() - started >= 1  # it waited for the other sync
    assert (result.checked, result.fresh, result.left) == (1, 1, 0)
    assert seen[-1] == (1, 1)
    assert len(upstream.browse_requests(str(busy.mbid))) == 0  # the other sync's fetch is not repeated
    assert len(upstream.browse_requests(str(other.mbid))) == 1


def test_an_artist_whose_other_sync_died_is_fetched_by_the_refresh(upstream):
    fan = User.objects.create_user("fan@example.com", "long-enough-password")
    [artist] = follows(fan, 1, upstream)
    # A sync that died: its lease runs out while the refresh waits.
    Artist.objects.filter(pk=artist.pk).update(sync_leased_until=timezone.now() + dt.timedelta(seconds=1))

    result = sync.library_refresh(user_id=fan.pk, client=quick_client(upstream), seconds=30)

    assert (result.checked, result.fresh) == (1, 0)
    assert ReleaseGroup.objects.filter(artists=artist).count() == 1


def test_an_artist_backing_off_after_a_failure_counts_as_failed_not_fresh(upstream):
    fan = User.objects.create_user("fan@example.com", "long-enough-password")
    [backing_off, _] = follows(fan, 2, upstream)
    Artist.objects.filter(pk=backing_off.pk).update(sync_leased_until=timezone.now() + sync.FAILURE_BACKOFF)

    result = sync.library_refresh(user_id=fan.pk, client=quick_client(upstream), seconds=30)

    assert (result.checked, result.fresh, result.failed) == (1, 0, 1)


def test_the_deadline_ends_the_wait_for_another_sync(upstream):
    fan = User.objects.create_user("fan@example.com", "long-enough-password")
    [artist] = follows(fan, 1, upstream)
    assert sync.artist_claim(artist_id=artist.pk)

    result = sync.library_refresh(user_id=fan.pk, client=quick_client(upstream), seconds=1)

    assert (result.checked, result.fresh, result.left) == (0, 0, 1)
