"""Last.fm's ``user.getTopArtists``: whom a user played most over a period, to suggest artists to follow.

Errors come as ``{"error": N, "message": ...}`` with HTTP 200 or 4xx; every request waits its turn in a limiter
shared by every process (Last.fm asks for well under five requests a second per address).
"""

import logging
import time
from collections.abc import Callable
from typing import Any

import requests
from django.conf import settings

from musicdrops.catalog.http import BadBody, Retry, RetryLater, get_json, retry_after_seconds
from musicdrops.catalog.listenbrainz import TopArtist
from musicdrops.catalog.musicbrainz import NAME_LENGTH, canonical_mbid
from musicdrops.catalog.ratelimit import RateLimiter
from musicdrops.catalog.text import clean_text

logger = logging.getLogger(__name__)

PERIODS = {
    "overall": "All time",
    "12month": "The last 12 months",
    "6month": "The last 6 months",
    "3month": "The last 3 months",
    "1month": "The last month",
    "7day": "The last 7 days",
}
PAGE_SIZE = 200  # Last.fm takes up to 1000; smaller pages stop sooner once play counts drop under the minimum
MAX_USER_NAME_LENGTH = 64
MAX_RETRY_AFTER = 60.0
RATE_LIMIT_KEY = "ratelimit:lastfm"
REQUESTS_PER_SECOND = 2.0  # for every process together: well under Last.fm's five a second per address
USER_NOT_FOUND = 6
RETRY_LATER = {8, 11, 16, 29}  # operation failed, service offline, temporarily unavailable, rate limit exceeded


class LastfmError(Exception):
    """Last.fm could not be used: still failing after retries, refused the request, or answered nonsense."""


class UnknownLastfmUser(LastfmError):
    """No such Last.fm user (error 6), or a name that cannot be one."""


class LastfmNotConfigured(LastfmError):
    """The site has no API key (``LASTFM_API_KEY``), or Last.fm refuses the one it has."""


class LastfmClient:
    """One client per unit of work: it holds a ``requests.Session`` and is not thread-safe."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        user_agent: str,
        rate_limiter: RateLimiter | None,
        timeout: float = 10,
        max_attempts: int = 4,
        page_size: int = PAGE_SIZE,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.api_key = api_key
        self.user_agent = user_agent
        self.rate_limiter = rate_limiter
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.page_size = min(max(page_size, 1), 1000)
        self.session = session if session is not None else requests.Session()
        self._sleep = sleep
        self.requests_made = 0  # retries included

    def top_artists(self, user_name: str, *, period: str, min_plays: int = 0, most: int = 500) -> list[TopArtist]:
        """Up to ``most`` artists the user played at least ``min_plays`` times over ``period``, most played first."""
        if period not in PERIODS:
            raise ValueError(f"unknown period {period!r}; one of {sorted(PERIODS)}")
        user_name = user_name.strip()
        if not user_name or len(user_name) > MAX_USER_NAME_LENGTH:
            raise UnknownLastfmUser(f"“{user_name[:MAX_USER_NAME_LENGTH]}” is not a Last.fm user name.")
        if not self.api_key:
            raise LastfmNotConfigured("This site has no Last.fm API key configured, so it cannot import from Last.fm.")
        artists: list[TopArtist] = []
        page = 1
        while len(artists) < most:
            entries, total_pages = self._page(user_name, period=period, page=page)
            # The list is sorted by play count: past the minimum, every later page is too.
            artists += [artist for artist in entries if artist.listen_count >= min_plays]
            if not entries or page >= total_pages or entries[-1].listen_count < min_plays:
                break
            page += 1
        return artists[:most]

    def _page(self, user_name: str, *, period: str, page: int) -> tuple[list[TopArtist], int]:
        def before_each() -> None:
            if self.rate_limiter is not None:
                self.rate_limiter.acquire()
            self.requests_made += 1

        def on_status(response: requests.Response) -> Retry:
            status = response.status_code
            retry = _error_in_body(_json_or_none(response), user_name)  # raises on the errors that stay
            if retry is not None:
                return retry
            if status == 429 or status >= 500:
                retry_after = retry_after_seconds(response.headers.get("Retry-After"), longest=MAX_RETRY_AFTER)
                if retry_after is not None and self.rate_limiter is not None:
                    self.rate_limiter.pause(retry_after)  # every process waits: the limit is per address
                return Retry(f"HTTP {status}", delay=retry_after)
            raise LastfmError(f"Last.fm answered HTTP {status} {response.text[:200]!r}")

        def parse(data: Any) -> tuple[list[TopArtist], int]:
            if isinstance(data, dict) and "error" in data:
                retry = _error_in_body(data, user_name)
                if retry is None:
                    raise BadBody(f"an error Last.fm does not send: {data.get('error')!r:.100}")
                raise RetryLater(retry)
            return _parse_page(data)

        params: dict[str, str | int] = {
            "method": "user.gettopartists",
            "user": user_name,
            "period": period,
            "limit": self.page_size,
            "page": page,
            "api_key": self.api_key,
            "format": "json",
        }
        return get_json(
            service="Last.fm",
            session=self.session,
            url=self.base_url,
            params=params,
            headers={"User-Agent": self.user_agent, "Accept": "application/json"},
            timeout=self.timeout,
            max_attempts=self.max_attempts,
            parse=parse,
            on_status=on_status,
            error=LastfmError,
            before_each=before_each,
            sleep=self._sleep,
        )


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_in_body(data: Any, user_name: str) -> Retry | None:
    """A ``Retry`` for Last.fm's passing errors; raise for those that stay; None when the body names no error."""
    code = data.get("error") if isinstance(data, dict) else None
    if code is None or isinstance(code, bool) or not isinstance(code, int):
        return None
    message = clean_text(str(data.get("message", "")))[:200]
    if code == USER_NOT_FOUND:
        raise UnknownLastfmUser(f"Last.fm has no user “{user_name}”.")
    if code in RETRY_LATER:
        return Retry(f"Last.fm error {code} ({message})")
    if code in (10, 26):  # invalid API key, suspended API key
        raise LastfmNotConfigured(f"Last.fm refused this site's API key (error {code}: {message}).")
    raise LastfmError(f"Last.fm error {code}: {message}")


def _parse_page(data: Any) -> tuple[list[TopArtist], int]:
    top = data.get("topartists") if isinstance(data, dict) else None
    if not isinstance(top, dict):
        raise BadBody("no 'topartists' object")
    entries = top.get("artist", [])
    if isinstance(entries, dict):  # Last.fm's JSON, converted from XML, makes a list of one a bare object
        entries = [entries]
    if not isinstance(entries, list):
        raise BadBody("'topartists.artist' is not a list")
    attributes = top.get("@attr")
    total_pages = _count(attributes.get("totalPages")) if isinstance(attributes, dict) else None
    artists = []
    for entry in entries:
        artist = _top_artist(entry)
        if artist is None:
            logger.warning("Last.fm top artists: skipping an artist without name or play count: %.200r", entry)
        else:
            artists.append(artist)
    return artists, total_pages if total_pages is not None else 1


def _top_artist(entry: object) -> TopArtist | None:
    if not isinstance(entry, dict):
        return None
    # Last.fm's names are its users' tags: only ever a search term for MusicBrainz, never an artist's name here.
    raw_name = entry.get("name")
    name = clean_text(raw_name).strip()[:NAME_LENGTH] if isinstance(raw_name, str) else ""
    plays = _count(entry.get("playcount"))
    if not name or plays is None:
        return None
    return TopArtist(mbid=canonical_mbid(entry.get("mbid")), name=name, listen_count=plays)


def _count(value: object) -> int | None:
    """A count Last.fm sends as a string ("1204") or, now and then, a number; None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdecimal() and len(value) < 16:
        return int(value.strip())
    return None


def default_client() -> LastfmClient:
    return LastfmClient(
        base_url=settings.LASTFM_URL,
        api_key=settings.LASTFM_API_KEY,
        user_agent=settings.MUSICBRAINZ_USER_AGENT,
        rate_limiter=RateLimiter(RATE_LIMIT_KEY, REQUESTS_PER_SECOND),
        timeout=settings.UPSTREAM_TIMEOUT,
    )
