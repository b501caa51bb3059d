"""The release feed's filters: by kind, by artist, out now and upcoming apart, pages keeping the filters."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from musicdrops.catalog.models import Artist, Follow, ReleaseGroup

pytestmark = pytest.mark.django_db


@pytest.fixture
def feed(user):
    today = timezone.localdate()
    sigur = Artist.objects.create(mbid="00000000-0000-4000-8000-000000000001", name="Sigur Rós")
    olafur = Artist.objects.create(mbid="00000000-0000-4000-8000-000000000002", name="Ólafur Arnalds")
    for artist in (sigur, olafur):
        Follow.objects.create(user=user, artist=artist)
    rows = [
        (sigur, "Sigur album out", "album", -3),
        (sigur, "Sigur single out", "single", -1),
        (sigur, "Sigur album soon", "album", 5),
        (olafur, "Olafur album out", "album", -2),
        (olafur, "Olafur EP soon", "ep", 20),
    ]
    for n, (artist, title, kind, days) in enumerate(rows):
        rg = ReleaseGroup.objects.create(
            mbid=f"30000000-0000-4000-8000-{n:012d}", title=title, kind=kind,
            first_release_date=today + dt.timedelta(days=days), date_precision="day",
        )  # fmt: skip
        rg.artists.add(artist)
    return {"sigur": sigur, "olafur": olafur}


def sections(client, **query) -> tuple[list[str], list[str]]:
    """(titles under "Upcoming", titles under the main list), in page order."""
    page = client.get(reverse("front:dashboard"), query).content.decode()
    import re

    titles = re.findall(r'<a class="title" href="[^"]+">([^<]+)</a>', page)
    head = page.split('id="feed-heading"')[0]
    upcoming = re.findall(r'<a class="title" href="[^"]+">([^<]+)</a>', head)
    return upcoming, titles[len(upcoming) :]


def test_out_now_and_upcoming_are_apart(client, feed):
    upcoming, out = sections(client)

    assert upcoming == ["Sigur album soon", "Olafur EP soon"]  # soonest first
    assert out == ["Sigur single out", "Olafur album out", "Sigur album out"]  # newest first


def test_filter_by_kind_artist_and_when(client, feed):
    assert sections(client, kind="album") == (["Sigur album soon"], ["Olafur album out", "Sigur album out"])
    assert sections(client, artist=feed["olafur"].pk) == (["Olafur EP soon"], ["Olafur album out"])
    assert sections(client, when="upcoming") == ([], ["Sigur album soon", "Olafur EP soon"])
    assert sections(client, when="out", kind="single") == ([], ["Sigur single out"])


def test_bad_filters_say_so_and_show_everything_never_a_500(client, feed, user):
    other = Artist.objects.create(mbid="00000000-0000-4000-8000-000000000009", name="Not yours")

    for query in ({"kind": "opera"}, {"artist": "abc"}, {"artist": other.pk}, {"when": "yesterday"}):
        response = client.get(reverse("front:dashboard"), query)
        assert response.status_code == 200
        assert "not ones this feed has" in response.content.decode()
    _, out = sections(client, artist=other.pk)
    assert len(out) == 3  # the whole feed, nothing of an artist the user does not follow


def test_pages_keep_the_filters(client, feed):
    sigur = feed["sigur"]
    today = timezone.localdate()
    for n in range(30):
        rg = ReleaseGroup.objects.create(
            mbid=f"31000000-0000-4000-8000-{n:012d}", title=f"Old {n}", kind="album",
            first_release_date=today - dt.timedelta(days=10 + n), date_precision="day",
        )  # fmt: skip
        rg.artists.add(sigur)

    page = client.get(reverse("front:dashboard"), {"kind": "album", "artist": sigur.pk}).content.decode()

    assert f"?kind=album&amp;artist={sigur.pk}&amp;page=2" in page
