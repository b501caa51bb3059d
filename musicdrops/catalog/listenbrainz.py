"""ListenBrainz listening statistics: whom a user listens to most, to suggest artists to follow.

One call per asking user needs no shared budget like MusicBrainz's: the client waits ``X-RateLimit-Reset-In``.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings

from musicdrops.catalog.http import BadBody, Retry, get_json, retry_after_seconds
from musicdrops.catalog.musicbrainz import NAME_LENGTH, canonical_mbid
from musicdrops.catalog.text import clean_text

logger = logging.getLogger(__name__)

RANGES = frozenset(
    {
        "this_week",
        "this_month",
        "this_year",
        "week",
        "month",
        "quarter",
        "year",
        "half_yearly",
        "all_time",
    }
)
MAX_COUNT = 1000  # ListenBrainz's own cap for one page of statistics
MAX_USER_NAME_LENGTH = 64
MAX_RESET_IN = 60.0  # waiting longer than this inside one request is worse than failing it


class ListenBrainzError(Exception):
    """ListenBrainz could not be used: still failing after retries, refused the request, or answered nonsense."""


class StatsNotReady(ListenBrainzError):
    """The user exists but ListenBrainz has not computed their statistics yet (HTTP 204); try again another day."""


class UnknownListenBrainzUser(ListenBrainzError):
    """No such ListenBrainz user (HTTP 404), or a name that cannot be one."""


@dataclass(frozen=True)
class TopArtist:
    mbid: str | None  # None when ListenBrainz could not match the name to a MusicBrainz artist
    name: str
    listen_count: int


class ListenBrainzClient:
    """One client per unit of work: it holds a ``requests.Session`` and is not thread-safe."""

    def __init__(
        self,
        *,
        base_url: str,
        user_agent: str,
        timeout: float = 10,
        max_attempts: int = 4,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.user_agent = user_agent
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.session = session if session is not None else requests.Session()
        self._sleep = sleep
        self.requests_made = 0  # retries included

    def top_artists(self, user_name: str, *, count: int = 100, range_: str = "all_time") -> list[TopArtist]:
        """The user's most listened artists over ``range_``, most listened first."""
        if range_ not in RANGES:
            raise ValueError(f"unknown statistics range {range_!r}; one of {sorted(RANGES)}")
        if not user_name.strip() or len(user_name) > MAX_USER_NAME_LENGTH or "/" in user_name:
            # Such a name would change the URL's meaning (or be refused): it is no user of theirs.
            raise UnknownListenBrainzUser(f"not a ListenBrainz user name: {user_name!r}")
        count = min(max(count, 1), MAX_COUNT)
        path = f"1/stats/user/{quote(user_name, safe='')}/artists"
        return self._get(path, {"range": range_, "count": count}, user_name)

    def _get(self, path: str, params: dict[str, str | int], user_name: str) -> list[TopArtist]:
        def before_each() -> None:
            self.requests_made += 1

        def on_status(response: requests.Response) -> Retry:
            status = response.status_code
            if status == 204:
                raise StatsNotReady(f"ListenBrainz has no statistics for {user_name!r} yet")
            if status == 404:
                raise UnknownListenBrainzUser(f"no ListenBrainz user {user_name!r}")
            if status == 429:
                reset_in = retry_after_seconds(response.headers.get("X-RateLimit-Reset-In"), longest=MAX_RESET_IN)
                if reset_in is None:
                    return Retry("HTTP 429")
                return Retry(f"HTTP 429, X-RateLimit-Reset-In {reset_in:g} s", delay=reset_in)
            if status >= 500:
                return Retry(f"HTTP {status}")
            # 400 (a bad range or count) and the like: the same request will fail again
            raise ListenBrainzError(f"GET {response.url}: HTTP {status} {response.text[:200]!r}")

        return get_json(
            service="ListenBrainz",
            session=self.session,
            url=f"{self.base_url}/{path}",
            params=params,
            headers={"User-Agent": self.user_agent, "Accept": "application/json"},
            timeout=self.timeout,
            max_attempts=self.max_attempts,
            parse=_parse_top_artists,
            on_status=on_status,
            error=ListenBrainzError,
            before_each=before_each,
            sleep=self._sleep,
        )


def _parse_top_artists(data: Any) -> list[TopArtist]:
    payload = data.get("payload") if isinstance(data, dict) else None
    entries = payload.get("artists") if isinstance(payload, dict) else None
    if not isinstance(entries, list):
        raise BadBody("no 'payload.artists' list")
    artists = []
    for entry in entries:
        artist = _top_artist(entry)
        if artist is None:
            logger.warning("ListenBrainz stats: skipping an artist without name or listen count: %.200r", entry)
        else:
            artists.append(artist)
    return artists


def _top_artist(entry: object) -> TopArtist | None:
    if not isinstance(entry, dict):
        return None
    # Text ListenBrainz users typed: only ever a search term for MusicBrainz, never an artist's name here.
    raw_name = entry.get("artist_name")
    name = clean_text(raw_name).strip()[:NAME_LENGTH] if isinstance(raw_name, str) else ""
    listen_count = entry.get("listen_count")
    if not name:
        return None
    if isinstance(listen_count, bool) or not isinstance(listen_count, int) or listen_count < 0:
        return None
    mbid = canonical_mbid(entry.get("artist_mbid"))
    if mbid is None:
        # Older answers carry a list; several ids are a collaboration credited as one name, no single artist.
        mbids = entry.get("artist_mbids")
        if isinstance(mbids, list) and len(mbids) == 1:
            mbid = canonical_mbid(mbids[0])
    return TopArtist(mbid=mbid, name=name, listen_count=listen_count)


def default_client() -> ListenBrainzClient:
    return ListenBrainzClient(
        base_url=settings.LISTENBRAINZ_URL,
        user_agent=settings.MUSICBRAINZ_USER_AGENT,
        timeout=settings.UPSTREAM_TIMEOUT,
    )
