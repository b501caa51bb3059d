"""The push channel: a drop as a short text to an ntfy topic or a Discord- or Slack-style webhook, and what each
answer means for the ledger (sent, try later, refused for good)."""

import datetime as dt
import email.utils
import json
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from musicdrops import safe_http
from musicdrops.drops.emails import DropRelease, subject_for
from musicdrops.drops.models import PushChannel

DISCORD_LIMIT = 2000  # characters in a Discord message's content
TEXT_LIMIT = 3500  # ntfy and Slack take more; a drop past this says "and N more"


@dataclass(frozen=True)
class Outcome:
    """``ok``; else ``permanent`` (a refusal for good: marked failed) or not (try later, after ``retry_after``)."""

    ok: bool
    detail: str
    permanent: bool = False
    retry_after: float | None = None


def push_text(*, day: dt.date, releases: list[DropRelease], announced: list[DropRelease]) -> tuple[str, str]:
    """(title, text) of a drop: one line per release, out ones first."""
    lines = [f"{r.artists} - {r.title} ({r.kind}, {r.date})" for r in releases]
    lines += [f"Announced: {r.artists} - {r.title} ({r.kind}, {r.date})" for r in announced]
    text, shown = "", 0
    for line in lines:
        if len(text) + len(line) + 1 > TEXT_LIMIT - 40:
            break
        text, shown = text + line + "\n", shown + 1
    if shown < len(lines):
        text += f"and {len(lines) - shown} more\n"
    return subject_for(day), text.strip()


def push_send(*, kind: str, url: str, title: str, text: str) -> Outcome:
    """POST the message to the fan's URL (musicdrops/safe_http.py) and read the answer."""
    click = settings.SITE_URL + reverse("front:home")
    if kind == PushChannel.Kind.NTFY:
        # Headers are Latin-1 on the wire: a title with other characters goes in the body instead.
        ascii_title = title.isascii()
        body = (text if ascii_title else f"{title}\n{text}").encode()
        headers = {"Content-Type": "text/plain; charset=utf-8", "Click": click, "Tags": "musical_note"}
        if ascii_title:
            headers["Title"] = title
    else:
        message = f"**{title}**\n{text}" if kind == PushChannel.Kind.DISCORD else f"*{title}*\n{text}\n{click}"
        key = "content" if kind == PushChannel.Kind.DISCORD else "text"
        body = json.dumps({key: message[:DISCORD_LIMIT]}).encode()
        headers = {"Content-Type": "application/json"}
    try:
        answer = safe_http.post(url, body=body, headers=headers)
    except safe_http.Refused as error:
        return Outcome(ok=False, detail=f"refused: {error}", permanent=True)
    except OSError as error:  # time-outs, refused connections, names that do not resolve: try later
        return Outcome(ok=False, detail=f"could not reach it: {error or type(error).__name__}")
    return outcome_of(answer)


def outcome_of(answer: safe_http.Answer) -> Outcome:
    said = answer.body[:200].decode("utf-8", "replace").strip()
    detail = f"HTTP {answer.status}" + (f": {said}" if said else "")
    if 200 <= answer.status < 300:
        return Outcome(ok=True, detail=detail)
    if answer.status == 429 or answer.status >= 500:
        return Outcome(ok=False, detail=detail, retry_after=_retry_after(answer))
    if 300 <= answer.status < 400:
        return Outcome(ok=False, detail=f"{detail} (redirects are not followed)", permanent=True)
    return Outcome(ok=False, detail=detail, permanent=True)


def _retry_after(answer: safe_http.Answer) -> float | None:
    """Seconds the server asked for: Retry-After (seconds or a date), or Discord's JSON ``retry_after``."""
    value = answer.headers.get("retry-after", "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
    try:
        seconds = json.loads(answer.body).get("retry_after")
    except (ValueError, AttributeError):
        return None
    return float(seconds) if isinstance(seconds, int | float) and not isinstance(seconds, bool) else None
