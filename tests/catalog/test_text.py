from musicdrops.catalog.text import clean_text
from tests.hostile import FORBIDDEN, HOSTILE_TITLE, ZERO_WIDTH_RUN


def test_controls_go_tab_and_newline_stay_zero_width_runs_shrink_to_one():
    cleaned = clean_text(HOSTILE_TITLE)

    assert cleaned == "\t\nBad\u200bTitle\u200d end"
    assert not FORBIDDEN.search(cleaned)
    assert not ZERO_WIDTH_RUN.search(cleaned)


def test_ordinary_text_is_kept_and_lengths_are_bounded():
    assert clean_text("Sigur Rós · 坂本龍一 👩\u200d🎤\r\nline two") == "Sigur Rós · 坂本龍一 👩\u200d🎤\nline two"
    assert clean_text("x" * 600, max_length=500) == "x" * 500
