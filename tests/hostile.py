"""Text an attacker (or a careless upstream) can put in a title or a name."""

import re

# Every C0 control, DEL and a C1 one, runs of zero-width characters, a lone surrogate.
HOSTILE_TITLE = (
    "".join(chr(code) for code in range(32)) + "Bad\u200b\u200b\u200b\u200bTitle\u200d\u2060\ufeff\x7f\x85\ud800 end"
)
# What a database can hold of it (PostgreSQL refuses NUL, and UTF-8 has no lone surrogates): stored
# before the border was cleaned, every output must still survive it.
HOSTILE_STORED = HOSTILE_TITLE.replace("\x00", "").replace("\ud800", "")
# What a strict format may not carry: C0 controls but tab and newline, DEL, C1, surrogates.
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
ZERO_WIDTH_RUN = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff]{2,}")
