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
    return str(response.content.decode())


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


def test_followed_artists_who_share_a_name_are_told_apart_in_the_feed(client, user):
    today = timezone.localdate()
    for n, disambiguation in enumerate(["UK folk band", "US indie pop band"]):
        twin = Artist.objects.create(mbid=f"00000000-0000-4000-8000-0000000000d{n}", name="The Paper Lanterns",
                                     disambiguation=disambiguation)  # fmt: skip
        Follow.objects.create(user=user, artist=twin)
        release = ReleaseGroup.objects.create(mbid=f"00000000-0000-4000-8000-0000000000e{n}", title=f"Record {n}",
                                              kind="album", first_release_date=today, date_precision="day")  # fmt: skip
        release.artists.add(twin)
    alone = Artist.objects.create(mbid="00000000-0000-4000-8000-0000000000d9", name="Mira", disambiguation="singer")
    Follow.objects.create(user=user, artist=alone)
    solo = ReleaseGroup.objects.create(mbid="00000000-0000-4000-8000-0000000000e9", title="Solo", kind="album",
                                       first_release_date=today, date_precision="day")  # fmt: skip
    solo.artists.add(alone)

    html = client.get(reverse("front:dashboard")).content.decode()

    assert 'The Paper Lanterns</a> <span class="muted">(UK folk band)</span>' in html
    assert 'The Paper Lanterns</a> <span class="muted">(US indie pop band)</span>' in html
    assert "Mira</a> <span" not in html  # a name nobody else has needs nothing more


def test_the_artist_page_says_by_whom_only_for_shared_releases(client, release):
    sigur = release.artists.get(name="Sigur Rós")
    alone = ReleaseGroup.objects.create(mbid="00000000-0000-4000-8000-0000000000c2", title="Valtari", kind="album",
                                        first_release_date=timezone.localdate(), date_precision="day")  # fmt: skip
    alone.artists.add(sigur)

    html = client.get(reverse("front:artist", args=[sigur.mbid])).content.decode()
    valtari = html[html.index(">Valtari<") : html.index("</li>", html.index(">Valtari<"))]
    riceboy = html[html.index(">Riceboy Sleeps<") : html.index("</li>", html.index(">Riceboy Sleeps<"))]

    assert "by " not in valtari
    assert "Jónsi" in riceboy
