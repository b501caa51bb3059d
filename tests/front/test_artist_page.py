"""The artist page: who they are, their releases past and upcoming, follow and unfollow from it."""

import datetime as dt
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from musicdrops.catalog.models import Artist, Follow, ReleaseGroup
from musicdrops.catalog.musicbrainz import ArtistHit
from musicdrops.catalog.services import artist_upsert

pytestmark = pytest.mark.django_db

SAKAMOTO = "00000000-0000-4000-8000-0000000000a1"


@pytest.fixture
def sakamoto() -> Artist:
    hit = ArtistHit(
        mbid=SAKAMOTO, name="坂本龍一", sort_name="Sakamoto, Ryuichi", disambiguation="Japanese composer", score=100,
        artist_type="Person", country="JP", area="Japan", begin="1952-01-17", end="2023-03-28",
    )  # fmt: skip
    artist = artist_upsert(hit=hit)
    artist.synced_at = timezone.now()
    artist.save()
    return artist


def add_release(artist: Artist, title: str, days: int | None, *, kind: str = "album", n: int = 0) -> ReleaseGroup:
    today = timezone.localdate()
    release = ReleaseGroup.objects.create(
        mbid=uuid.uuid5(uuid.NAMESPACE_URL, f"rg/{title}/{n}"), title=title, kind=kind,
        first_release_date=None if days is None else today + dt.timedelta(days=days),
        date_precision="unknown" if days is None else "day",
    )  # fmt: skip
    release.artists.add(artist)
    return release


def page(client, artist: Artist, **query) -> str:
    response = client.get(reverse("front:artist", args=[artist.mbid]), query)
    assert response.status_code == 200
    return str(response.content.decode())


def test_shows_who_the_artist_is(client, user, sakamoto):
    html = page(client, sakamoto)

    assert "<h1>坂本龍一</h1>" in html
    for fact in ("Japanese composer", "Person", "Japan", "1952\u20132023"):
        assert fact in html
    assert f"https://musicbrainz.org/artist/{SAKAMOTO}" in html


def test_upcoming_apart_from_past_releases_every_kind_and_undated_last(client, user, sakamoto):
    add_release(sakamoto, "async", -3000)
    add_release(sakamoto, "12", -1000)
    add_release(sakamoto, "Soon live", 30, kind="live")
    add_release(sakamoto, "Sooner single", 3, kind="single")
    add_release(sakamoto, "Undated demo", None, kind="other")
    removed = add_release(sakamoto, "Merged away", -10)
    removed.removed_at = timezone.now()
    removed.save()

    html = page(client, sakamoto)
    upcoming, released = html.split('id="released-heading"')

    assert upcoming.index(">Sooner single<") < upcoming.index(">Soon live<")
    assert released.index(">12<") < released.index(">async<") < released.index(">Undated demo<")
    assert "Merged away" not in html
    assert "Releases (3)" in released


def test_titles_and_every_credited_artist_link_to_our_pages(client, user, sakamoto):
    other = Artist.objects.create(mbid="00000000-0000-4000-8000-0000000000a2", name="Alva Noto")
    release = add_release(sakamoto, "Vrioon", -100)
    release.artists.add(other)

    html = page(client, sakamoto)

    assert f'href="/releases/{release.mbid}/"' in html
    assert f'href="/artists/{other.mbid}/"' in html
    assert f'href="/artists/{SAKAMOTO}/"' in html


def test_past_releases_come_a_page_at_a_time(client, user, sakamoto):
    for n in range(55):
        add_release(sakamoto, f"Record {n:02d}", -n - 1, n=n)

    first, second = page(client, sakamoto), page(client, sakamoto, page=2)

    assert "Record 00" in first
    assert "Record 49" in first
    assert "Record 50" not in first
    assert "Record 50" in second
    assert "Record 54" in second
    assert "Page 2 of 2" in second


def test_follow_and_unfollow_from_the_page_come_back_to_it(client, user, sakamoto, django_capture_on_commit_callbacks):
    url = reverse("front:artist", args=[sakamoto.mbid])
    assert 'data-testid="follow"' in page(client, sakamoto)

    with django_capture_on_commit_callbacks():
        response = client.post(reverse("catalog:follow"), {"mbid": str(sakamoto.mbid), "next": url})
    assert response.status_code == 302
    assert response["Location"] == url
    assert Follow.objects.filter(user=user, artist=sakamoto).exists()
    assert 'data-testid="unfollow"' in page(client, sakamoto)

    response = client.post(reverse("catalog:unfollow", args=[sakamoto.pk]), {"next": url}, follow=True)
    assert response.redirect_chain == [(url, 302)]
    assert not Follow.objects.filter(user=user, artist=sakamoto).exists()
    assert "Unfollowed 坂本龍一 (Japanese composer)." in response.content.decode()


@pytest.mark.parametrize("next_", ["https://evil.example/", "//evil.example/x", "/library/?q=x", "javascript:alert(1)"])
def test_a_next_that_is_not_a_plain_path_of_ours_goes_to_the_library(client, user, sakamoto, next_):
    response = client.post(reverse("catalog:follow"), {"mbid": str(sakamoto.mbid), "next": next_})

    assert response["Location"] == reverse("catalog:library")


def test_an_artist_we_do_not_know_is_a_404_and_a_bad_id_too(client, user):
    assert client.get(reverse("front:artist", args=[uuid.uuid4()])).status_code == 404
    assert client.get("/artists/not-an-mbid/").status_code == 404


def test_logged_out_visitors_are_sent_to_log_in(client, sakamoto):
    response = client.get(reverse("front:artist", args=[sakamoto.mbid]))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_an_artist_not_checked_yet_says_so(client, user):
    fresh = Artist.objects.create(mbid="00000000-0000-4000-8000-0000000000a3", name="Newcomer")

    assert "We haven't checked Newcomer's releases yet" in page(client, fresh)


def test_text_from_upstream_is_escaped(client, user):
    hostile = Artist.objects.create(
        mbid="00000000-0000-4000-8000-0000000000a4", name="<script>alert(1)</script>", area="<b>x</b>",
        disambiguation='"><img src=x>', synced_at=timezone.now(),
    )  # fmt: skip
    add_release(hostile, "<i>Title</i>", -1)

    html = page(client, hostile)

    assert "<script>alert(1)" not in html
    assert "<b>x</b>" not in html
    assert "<img src=x>" not in html
    assert "&lt;i&gt;Title&lt;/i&gt;" in html
