"""The daily email's renderer: per-user values go where the frame says, whatever a title says."""

import datetime as dt

from musicdrops.drops.emails import DropRelease, DropRenderer, unsubscribe_url
from tests.hostile import FORBIDDEN, HOSTILE_STORED, ZERO_WIDTH_RUN

DAY = dt.date(2026, 6, 1)


def release(title: str, artists: str = "Sigur Rós") -> DropRelease:
    return DropRelease(title=title, artists=artists, kind="Album", date="June 1, 2026", musicbrainz_url="https://mb/x")


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
