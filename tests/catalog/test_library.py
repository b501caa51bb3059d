import datetime as dt
import html

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog import musicbrainz, selectors, sync
from musicdrops.catalog.models import Artist, Follow, ReleaseGroup, ReleasePreferences
from tests.catalog.upstream import MOTORHEAD, OLAFUR_ARNALDS, SIGUR_ROS, VARIOUS_ARTISTS, garbage, release_group
from tests.helpers import queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)


def follow(client, mbid: str):
    return client.post(reverse("catalog:follow"), {"mbid": mbid}, follow=True)


def test_search_lists_artists_and_escapes_their_names(client, user, upstream):
    upstream.add_artist("<script>alert('mb')</script> Sigur")

    response = client.get(reverse("catalog:library"), {"q": "sigur"})

    page = response.content.decode()
    assert "Sigur Rós" in page
    assert "Icelandic post-rock band" in page
    assert "<script>alert('mb')</script>" not in page
    assert "&lt;script&gt;" in page


def test_search_when_musicbrainz_is_down_says_so(client, user, upstream):
    upstream.always("search", garbage())

    response = client.get(reverse("catalog:library"), {"q": "sigur"})

    assert response.status_code == 200
    assert "MusicBrainz isn't answering" in html.unescape(response.content.decode())


def test_following_takes_the_name_from_musicbrainz_and_syncs_on_the_important_queue(
    client, user, upstream, redis_client
):
    response = client.post(reverse("catalog:follow"), {"mbid": SIGUR_ROS, "name": "Renamed by a hacker"}, follow=True)

    assert "You follow Sigur Rós" in response.content.decode()
    artist = Artist.objects.get()
    assert artist.name == "Sigur Rós"
    assert Follow.objects.filter(user=user, artist=artist).exists()
    assert queued_tasks(redis_client, "important") == ["musicdrops.catalog.tasks.sync_artist_now_task"]


def test_following_twice_is_one_follow(client, user, upstream):
    follow(client, SIGUR_ROS)
    follow(client, SIGUR_ROS)

    assert Follow.objects.count() == 1
    assert len(upstream.requests_to("/ws/2/artist/")) == 1  # the second time we knew the artist


@pytest.mark.parametrize(
    ("mbid", "message"),
    [
        ("not-a-uuid", "not a MusicBrainz artist id"),
        ("", "not a MusicBrainz artist id"),
        (VARIOUS_ARTISTS, "placeholder"),
        ("00000000-0000-0000-0000-000000000000", "doesn't know"),
    ],
)
def test_bad_follows_get_a_clear_message(client, user, upstream, mbid, message):
    response = follow(client, mbid)

    assert response.status_code == 200
    assert message in html.unescape(response.content.decode())
    assert Follow.objects.count() == 0


def test_unfollow_touches_only_your_own_follows(client, user, upstream):
    other = User.objects.create_user("other@example.com", "another-long-passphrase-1")
    artist = Artist.objects.create(mbid=SIGUR_ROS, name="Sigur Rós")
    Follow.objects.create(user=other, artist=artist)

    client.post(reverse("catalog:unfollow", args=[artist.pk]))

    assert Follow.objects.filter(user=other).exists()


def test_library_pages_need_login(client):
    for name in ("catalog:library", "catalog:imports", "catalog:preferences"):
        assert client.get(reverse(name)).status_code == 302
    assert client.post(reverse("catalog:follow"), {"mbid": SIGUR_ROS}).status_code == 302
    assert Follow.objects.count() == 0


def test_feed_shows_followed_recent_and_upcoming_releases_of_the_wanted_kinds(client, user, upstream):
    today = timezone.localdate()
    recent, upcoming, old = today - dt.timedelta(days=3), today + dt.timedelta(days=10), today - dt.timedelta(days=400)
    upstream.set_release_groups(
        OLAFUR_ARNALDS,
        [
            release_group("Fresh Album", date=recent.isoformat()),
            release_group("Coming Soon", primary_type="Single", date=upcoming.isoformat()),
            release_group("Ancient", date=old.isoformat()),
            release_group("Live Thing", secondary_types=["Live"], date=recent.isoformat()),
        ],
    )
    upstream.set_release_groups(MOTORHEAD, [release_group("Not Followed", date=recent.isoformat())])
    artist = Artist.objects.create(mbid=OLAFUR_ARNALDS, name="Ólafur Arnalds")
    Follow.objects.create(user=user, artist=artist)
    sync.artist_sync(artist_id=artist.pk, client=musicbrainz.default_client())

    page = client.get(reverse("front:dashboard")).content.decode()

    assert page.index("Coming Soon") < page.index("Fresh Album")
    assert "Ancient" not in page
    assert "Live Thing" not in page  # live recordings are off by default
    assert "Not Followed" not in page

    client.post(reverse("catalog:preferences"), {"kinds": ["album", "live"]})
    page = client.get(reverse("front:dashboard")).content.decode()
    assert "Live Thing" in page
    assert "Coming Soon" not in page  # singles now off
    assert ReleasePreferences.objects.get(user=user).wanted_kinds() == ["album", "live"]


def test_removed_releases_leave_the_feed(client, user):
    artist = Artist.objects.create(mbid=SIGUR_ROS, name="Sigur Rós")
    Follow.objects.create(user=user, artist=artist)
    rg = ReleaseGroup.objects.create(
        mbid=OLAFUR_ARNALDS,
        title="Withdrawn",
        kind="album",
        first_release_date=timezone.localdate(),
        date_precision="day",
    )
    rg.artists.add(artist)
    assert "Withdrawn" in client.get(reverse("front:dashboard")).content.decode()

    ReleaseGroup.objects.update(removed_at=timezone.now())

    assert "Withdrawn" not in client.get(reverse("front:dashboard")).content.decode()


def test_bad_page_numbers_are_not_errors(client, user):
    for page in ("999", "-1", "abc", "1e9"):
        assert client.get(reverse("front:dashboard"), {"page": page}).status_code == 200
        assert client.get(reverse("catalog:library"), {"page": page}).status_code == 200


def test_sync_releases_command_for_one_artist(upstream, capsys):
    call_command("sync_releases", "--artist", SIGUR_ROS)

    assert "Sigur Rós: 4 new" in capsys.readouterr().out
    assert ReleaseGroup.objects.count() == 4


def test_sync_releases_command_rejects_a_bad_id(upstream):
    with pytest.raises(CommandError, match="not a MusicBrainz artist id"):
        call_command("sync_releases", "--artist", "nope")


def test_saving_nothing_ticked_asks_first_and_then_says_what_it_means(client, user):
    client.post(reverse("catalog:preferences"), {"kinds": ["album"]})

    page = client.post(reverse("catalog:preferences"), {})

    assert page.status_code == 200
    assert "you get no daily email and an empty feed" in page.content.decode()
    assert ReleasePreferences.objects.get(user=user).wanted_kinds() == ["album"]  # not saved yet

    done = client.post(reverse("catalog:preferences"), {"nothing": "on"}, follow=True)

    assert ReleasePreferences.objects.get(user=user).wanted_kinds() == []
    assert "you get no daily email and your feed stays empty" in done.content.decode()


def test_preferences_are_in_the_navigation(client, user):
    page = client.get(reverse("front:dashboard")).content.decode()

    assert f'href="{reverse("catalog:preferences")}"' in page


def test_favicon_is_served_and_named_by_every_page(client):
    page = client.get(reverse("front:home")).content.decode()

    assert 'rel="icon"' in page
    assert client.get("/favicon.ico").status_code == 301


def test_unfollow_names_the_artist_and_undo_follows_again_without_asking_musicbrainz(client, user, upstream):
    artist = Artist.objects.create(mbid=SIGUR_ROS, name="Sigur Rós", synced_at=timezone.now())
    Follow.objects.create(user=user, artist=artist)

    page = client.post(reverse("catalog:unfollow", args=[artist.pk]), follow=True).content.decode()

    assert "Unfollowed <strong>Sigur Rós</strong>" in page
    assert "Undo" in page
    upstream.requests.clear()
    client.post(reverse("catalog:follow"), {"mbid": SIGUR_ROS})
    assert Follow.objects.filter(user=user, artist=artist).exists()
    assert upstream.requests == []  # an artist we know: no lookup
    again = client.get(reverse("catalog:library") + f"?unfollowed={artist.pk}").content.decode()
    assert "Unfollowed" not in again  # followed again: nothing to undo


def test_followed_artists_sort_naturally(client, user):
    for n, name in enumerate(["Artist 10", "artist 2", "Björk", "Boards of Canada", "Air", "Artist 1"]):
        artist = Artist.objects.create(mbid=f"00000000-0000-4000-8000-{n:012d}", name=name, sort_name=name)
        Follow.objects.create(user=user, artist=artist)

    names = [a.name for a in selectors.followed_artists(user=user)]

    if connection.vendor == "postgresql":  # the ICU collation: numbers by value, case and accents aside
        assert names == ["Air", "Artist 1", "artist 2", "Artist 10", "Björk", "Boards of Canada"]
    else:  # make run's SQLite has no ICU: case-insensitive only
        assert names == ["Air", "Artist 1", "Artist 10", "artist 2", "Björk", "Boards of Canada"]


def test_search_hits_say_what_tells_them_apart_and_known_ones_link_to_our_page(client, user, upstream):
    from musicdrops.catalog.models import Artist
    from tests.catalog.upstream import SIGUR_ROS, fixture_mbid

    Artist.objects.create(mbid=SIGUR_ROS, name="Sigur Rós")
    upstream.add_artist(
        "Sigur Rós", mbid=fixture_mbid("artist", "tribute"), disambiguation="a tribute act", type="Person",
        country="DE", area="Germany",
    )  # fmt: skip

    # Words in another order: a query of its own, not one an earlier test left in the cache.
    html = client.get(reverse("catalog:library"), {"q": "Rós Sigur"}).content.decode()

    assert f'href="/artists/{SIGUR_ROS}/"' in html  # known: our page
    assert "Group · Iceland · 1994\u2013" in html
    assert "Person · Germany" in html
    assert html.count('href="/artists/') == 1  # the tribute act is unknown here: no page yet
