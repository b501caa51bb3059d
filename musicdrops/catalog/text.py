"""Text from outside made safe to store and to show anywhere: XML and RFC 5545 refuse control characters."""

import re

# C0 and C1 controls but tab and newline, DEL, lone surrogates (UTF-8 cannot carry them), XML's non-characters.
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_ZERO_WIDTH = "\u180e\u200b-\u200f\u2060-\u2064\ufeff"
# One zero-width character can be meaningful (a joiner in an emoji or a Persian word); a run never is.
_ZERO_WIDTH_RUN = re.compile(f"([{_ZERO_WIDTH}])[{_ZERO_WIDTH}]+")


def clean_text(value: str, *, max_length: int | None = None) -> str:
    """``value`` without control characters (tab and newline stay), zero-width runs cut to one, ``max_length`` long."""
    text = _FORBIDDEN.sub("", value.replace("\r\n", "\n"))
    text = _ZERO_WIDTH_RUN.sub(r"\1", text)
    return text if max_length is None else text[:max_length]
