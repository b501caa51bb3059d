"""The daily email's renderer: per-user values go where the frame says, whatever a title says."""

import datetime as dt

from musicdrops.drops.emails import DropRelease, DropRenderer, unsubscribe_url
from tests.hostile import FORBIDDEN, HOSTILE_STORED, ZERO_WIDTH_RUN

DAY = dt.date(2026, 6, 1)


def release(title: str, artists: str = "Sigur Rós") -> DropRelease:
    return DropRelease(
        title=title, artists=artists, kind="Album", date="June 1, 2026", url="https://musicdrops.example/releases/x/"
    )


def test_a_title_that_looks_like_a_placeholder_stays_a_title():
    placeholders = "MUSICDROPSUNSUBSCRIBEURLGOESHERE and MUSICDROPSGROUPSGOHERE"

    _, text, html = DropRenderer(day=DAY).render(user_id=7, releases=[release(placeholders, artists=placeholders)])

    assert text.count(placeholders) == 2  # the artist line and the title
    assert text.count(unsubscribe_url(7)) == 1  # the footer's, nobody else's
    assert html.count("MUSICDROPSUNSUBSCRIBEURLGOESHERE") == 2
    assert html.count(unsubscribe_url(7)) == 1


def test_a_title_with_every_control_character_makes_a_clean_email():
    _, text, html = DropRenderer(day=DAY).render(user_id=7, releases=[release(HOSTILE_STORED, "Sigur\x1bRós")])

    for part in (text, html):
        assert not FORBIDDEN.search(part.replace("\n", "").replace("\t", ""))
        assert not ZERO_WIDTH_RUN.search(part)
        assert "Bad\u200bTitle\u200d end" in part
        assert "SigurRós" in part


def test_artists_who_share_a_name_get_a_heading_each_with_their_disambiguation(db):
    from musicdrops.catalog.models import Artist, ReleaseGroup
    from musicdrops.drops.chunk import drop_releases
    from musicdrops.drops.emails import group_by_artist
    from tests.catalog.upstream import fixture_mbid

    grunge = Artist.objects.create(mbid=fixture_mbid("a", "1"), name="Nirvana", disambiguation="US grunge band")
    sixties = Artist.objects.create(mbid=fixture_mbid("a", "2"), name="Nirvana", disambiguation="UK 1960s band")
    other = Artist.objects.create(mbid=fixture_mbid("a", "3"), name="Björk", disambiguation="Icelandic singer")
    releases = []
    for n, artist in enumerate([grunge, sixties, other, grunge]):
        rg = ReleaseGroup.objects.create(mbid=fixture_mbid("rg", str(n)), title=f"Record {n}", first_release_date=DAY)
        rg.artists.add(artist)
        releases.append(rg.pk)

    shown = drop_releases(release_ids=set(releases))
    groups = group_by_artist([shown[pk] for pk in releases])
    _, text, html = DropRenderer(day=DAY).render(user_id=7, releases=[shown[pk] for pk in releases])

    assert [(heading, [r.title for r in items]) for heading, items in groups] == [
        ("Björk", ["Record 2"]),  # no twin: the name alone
        ("Nirvana (UK 1960s band)", ["Record 1"]),
        ("Nirvana (US grunge band)", ["Record 0", "Record 3"]),
    ]
    assert "Nirvana (US grunge band)\n" in text
    assert ">Nirvana (UK 1960s band)</a></h2>" in html
    # Each heading and title links to the site's own pages, the twins to different ones.
    assert f'href="http://testserver/artists/{sixties.mbid}/"' in html or f"/artists/{sixties.mbid}/" in html
    assert f"/artists/{grunge.mbid}/" in html
    assert f"/releases/{fixture_mbid('rg', '1')}/" in html
    assert f"/releases/{fixture_mbid('rg', '1')}/" in text
