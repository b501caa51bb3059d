"""The release page: cover, title, artists, kind and date; the links that lead to it."""

import datetime as dt
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from musicdrops.catalog.models import Artist, Follow, ReleaseGroup

pytestmark = pytest.mark.django_db


@pytest.fixture
def release(user) -> ReleaseGroup:
    sigur = Artist.objects.create(mbid="00000000-0000-4000-8000-0000000000b1", name="Sigur Rós")
    jonsi = Artist.objects.create(mbid="00000000-0000-4000-8000-0000000000b2", name="Jónsi", disambiguation="singer")
    Follow.objects.create(user=user, artist=sigur)
    release = ReleaseGroup.objects.create(
        mbid="00000000-0000-4000-8000-0000000000c1", title="Riceboy Sleeps", kind="album", primary_type="Album",
        secondary_types=["Soundtrack"], first_release_date=timezone.localdate() + dt.timedelta(days=9),
        date_precision="day",
    )  # fmt: skip
    release.artists.add(sigur, jonsi)
    return release


def page(client, release: ReleaseGroup) -> str:
    response = client.get(reverse("front:release", args=[release.mbid]))
    assert response.status_code == 200
    return response.content.decode()


def test_shows_the_release_and_links_its_artists(client, release):
    html = page(client, release)

    assert "<h1>Riceboy Sleeps</h1>" in html
    assert 'href="/artists/00000000-0000-4000-8000-0000000000b1/"' in html
    assert 'href="/artists/00000000-0000-4000-8000-0000000000b2/"' in html
    assert "(singer)" in html
    assert "Soundtrack" in html
    assert "Out <time" in html
    assert f"https://musicbrainz.org/release-group/{release.mbid}" in html


def test_the_cover_is_lazy_decorative_and_over_a_placeholder(client, release, settings):
    settings.COVER_ART_URL = "https://covers.example"

    html = page(client, release)

    assert (
        f'<img class="cover-art" src="https://covers.example/release-group/{release.mbid}/front-500" alt=""'
        ' width="250" height="250" loading="lazy"'
    ) in html
    assert '<span class="initial">R</span>' in html


def test_no_cover_art_url_means_the_placeholder_alone(client, release, settings):
    settings.COVER_ART_URL = ""

    html = page(client, release)

    assert "cover-art" not in html
    assert '<span class="initial">R</span>' in html


def test_a_release_removed_upstream_says_so(client, release):
    release.removed_at = timezone.now()
    release.save()

    assert "MusicBrainz no longer lists this release" in page(client, release)


def test_an_unknown_release_is_a_404(client, user):
    assert client.get(reverse("front:release", args=[uuid.uuid4()])).status_code == 404


def test_the_feed_links_titles_and_artists_to_our_pages(client, release):
    html = client.get(reverse("front:dashboard")).content.decode()

    assert f'href="/releases/{release.mbid}/"' in html
    assert 'href="/artists/00000000-0000-4000-8000-0000000000b1/"' in html


def test_the_library_links_followed_artists(client, release):
    html = client.get(reverse("catalog:library")).content.decode()

    assert 'href="/artists/00000000-0000-4000-8000-0000000000b1/"' in html
