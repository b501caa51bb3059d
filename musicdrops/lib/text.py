"""Text from outside — MusicBrainz, ListenBrainz, a person — made safe to store and to show anywhere.

Applied where text enters (the upstream clients' parsers, the forms) and again where a strict
format goes out (Atom, iCal, email): XML and RFC 5545 refuse control characters outright, and a
row stored before the border was cleaned must not break a feed.
"""

import re

# C0 controls but tab and newline, DEL, C1 controls; lone surrogates (JSON can carry "\ud800",
# UTF-8 cannot) and the two non-characters XML forbids.
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_ZERO_WIDTH = "\u180e\u200b-\u200f\u2060-\u2064\ufeff"
# One zero-width character can be meaningful (a joiner in an emoji or a Persian word); a run never is.
_ZERO_WIDTH_RUN = re.compile(f"([{_ZERO_WIDTH}])[{_ZERO_WIDTH}]+")


def clean_text(value: str, *, max_length: int | None = None) -> str:
    """``value`` without control characters (tab and newline stay), zero-width runs cut to one, ``max_length`` long."""
    text = _FORBIDDEN.sub("", value.replace("\r\n", "\n"))
    text = _ZERO_WIDTH_RUN.sub(r"\1", text)
    return text if max_length is None else text[:max_length]
