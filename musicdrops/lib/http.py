"""What HTTP answers say about when to ask again, for every client we have (MusicBrainz, email providers)."""

import datetime as dt
import email.utils
import math


def retry_after_seconds(value: str | None, *, longest: float) -> float | None:
    """``Retry-After`` as seconds from now (at most ``longest``), from either of its forms; None if unreadable."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), longest)
