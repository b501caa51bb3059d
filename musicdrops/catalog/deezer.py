"""Deezer's public API: a public profile's favourite artists (no key), to suggest artists to follow.

Deezer answers its errors with HTTP 200 and ``{"error": {"type", "message", "code"}}``; its quota is about
50 requests per 5 seconds, so every request waits its turn in a limiter shared by every process.
"""

import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from musicdrops.catalog.http import BadBody, Retry, RetryLater, get_json, retry_after_seconds
from musicdrops.catalog.listenbrainz import TopArtist
from musicdrops.catalog.musicbrainz import NAME_LENGTH
from musicdrops.catalog.ratelimit import RateLimiter
from musicdrops.catalog.text import clean_text

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
MAX_RETRY_AFTER = 60.0
QUOTA_WAIT = 5.0  # Deezer's quota counts over 5 seconds
RATE_LIMIT_KEY = "ratelimit:deezer"
REQUESTS_PER_SECOND = 5.0  # for every process together: half of Deezer's 50 per 5 seconds
QUOTA_EXCEEDED, SERVICE_BUSY = 4, 700
# No data (no such user, or nothing public), and what Deezer says when the data needs the owner's token.
NOT_PUBLIC = {800, 200, 300}
MAX_PROFILE_ID = 10**15
_PROFILE_PATH = re.compile(r"/(?:[a-z]{2}(?:-[a-z]{2})?/)?(?:profile|user)/(\d{1,15})(?:/[a-z_]*)?/?", re.IGNORECASE)


class DeezerError(Exception):
    """Deezer could not be used: still failing after retries, refused the request, or answered nonsense."""


class DeezerProfileUnavailable(DeezerError):
    """Deezer shows nothing for this profile: there is no such user, or their favourites are private."""


def parse_profile(value: str) -> str | None:
    """The numeric id in a Deezer profile's address (``https://www.deezer.com/en/profile/123``) or alone; else None."""
    value = value.strip()
    if value.isascii() and value.isdigit():
        return str(int(value)) if 0 < int(value) < MAX_PROFILE_ID else None
    if "://" not in value:
        value = f"https://{value}"
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not (host == "deezer.com" or host.endswith(".deezer.com")):
        return None
    match = _PROFILE_PATH.fullmatch(parts.path)
    if match is None or not 0 < int(match.group(1)) < MAX_PROFILE_ID:
        return None
    return str(int(match.group(1)))


class DeezerClient:
    """One client per unit of work: it holds a ``requests.Session`` and is not thread-safe."""

    def __init__(
        self,
        *,
        base_url: str,
        user_agent: str,
        rate_limiter: RateLimiter | None,
        timeout: float = 10,
        max_attempts: int = 4,
        page_size: int = PAGE_SIZE,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.user_agent = user_agent
        self.rate_limiter = rate_limiter
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.page_size = max(page_size, 1)
        self.session = session if session is not None else requests.Session()
        self._sleep = sleep
        self.requests_made = 0  # retries included

    def favourite_artists(self, profile_id: str, *, most: int = 500) -> list[TopArtist]:
        """Up to ``most`` of the profile's favourite artists, in Deezer's order (no counts: each is 0)."""
        if not (profile_id.isascii() and profile_id.isdigit()):
            raise DeezerProfileUnavailable(f"“{profile_id[:40]}” is not a Deezer profile number.")
        artists: list[TopArtist] = []
        index = 0
        while len(artists) < most:
            entries, total, more = self._page(profile_id, index=index)
            artists += entries
            index += self.page_size
            # ``next`` says there is more; ``total`` guards against a page that would never end.
            if not more or index >= total:
                break
        return artists[:most]

    def _page(self, profile_id: str, *, index: int) -> tuple[list[TopArtist], int, bool]:
        def before_each() -> None:
            if self.rate_limiter is not None:
                self.rate_limiter.acquire()
            self.requests_made += 1

        def on_status(response: requests.Response) -> Retry:
            status = response.status_code
            if status == 429 or status >= 500:
                retry_after = retry_after_seconds(response.headers.get("Retry-After"), longest=MAX_RETRY_AFTER)
                if retry_after is not None and self.rate_limiter is not None:
                    self.rate_limiter.pause(retry_after)
                return Retry(f"HTTP {status}", delay=retry_after)
            if status == 404:
                raise DeezerProfileUnavailable(_not_public(profile_id))
            raise DeezerError(f"Deezer answered HTTP {status} {response.text[:200]!r}")

        def parse(data: Any) -> tuple[list[TopArtist], int, bool]:
            error = data.get("error") if isinstance(data, dict) else None
            if error is not None:
                code = error.get("code") if isinstance(error, dict) else None
                if isinstance(code, bool) or not isinstance(code, int):
                    raise BadBody(f"an error Deezer does not send: {error!r:.100}")
                message = clean_text(str(error.get("message", "")))[:200]
                if code == QUOTA_EXCEEDED:
                    if self.rate_limiter is not None:
                        self.rate_limiter.pause(QUOTA_WAIT)
                    raise RetryLater(Retry(f"Deezer quota exceeded ({message})", delay=QUOTA_WAIT))
                if code == SERVICE_BUSY:
                    raise RetryLater(Retry(f"Deezer busy ({message})"))
                if code in NOT_PUBLIC:
                    raise DeezerProfileUnavailable(_not_public(profile_id))
                raise DeezerError(f"Deezer error {code}: {message}")
            return _parse_page(data)

        return get_json(
            service="Deezer",
            session=self.session,
            url=f"{self.base_url}/user/{profile_id}/artists",
            params={"index": index, "limit": self.page_size},
            headers={"User-Agent": self.user_agent, "Accept": "application/json"},
            timeout=self.timeout,
            max_attempts=self.max_attempts,
            parse=parse,
            on_status=on_status,
            error=DeezerError,
            before_each=before_each,
            sleep=self._sleep,
        )


def _not_public(profile_id: str) -> str:
    return (
        f"Deezer shows no favourite artists for profile {profile_id}: check the number, and that the profile"
        " is public (Deezer: Settings → Privacy)."
    )


def _parse_page(data: Any) -> tuple[list[TopArtist], int, bool]:
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise BadBody("no 'data' list")
    total = data.get("total")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        total = 0
    artists = []
    for entry in entries:
        raw_name = entry.get("name") if isinstance(entry, dict) else None
        # Deezer's names only ever become a search on MusicBrainz, never an artist's name here.
        name = clean_text(raw_name).strip()[:NAME_LENGTH] if isinstance(raw_name, str) else ""
        if name:
            artists.append(TopArtist(mbid=None, name=name, listen_count=0))
        else:
            logger.warning("Deezer favourite artists: skipping an entry without a name: %.200r", entry)
    return artists, total, isinstance(data.get("next"), str) and bool(entries)


def default_client() -> DeezerClient:
    return DeezerClient(
        base_url=settings.DEEZER_URL,
        user_agent=settings.MUSICBRAINZ_USER_AGENT,
        rate_limiter=RateLimiter(RATE_LIMIT_KEY, REQUESTS_PER_SECOND),
        timeout=settings.UPSTREAM_TIMEOUT,
    )
