"""The MusicBrainz web service (v2): artists and release groups, every request through the shared ``RateLimiter``."""

import datetime as dt
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings

from musicdrops.catalog.http import BadBody, Retry, get_json, retry_after_seconds
from musicdrops.catalog.ratelimit import RateLimiter, RateLimitTimeout
from musicdrops.catalog.text import clean_text

logger = logging.getLogger(__name__)

RATE_LIMIT_KEY = "musicdrops:ratelimit:musicbrainz"

# Various Artists, [unknown], [anonymous], [data], [no artist], [traditional], [dialogue], in this order:
# placeholders nobody follows (Various Artists alone has hundreds of thousands of release groups).
SPECIAL_PURPOSE_ARTISTS: frozenset[str] = frozenset(
    {
        "89ad4ac3-39f7-470e-963a-56509c546377",
        "125ec42a-7229-4250-afc5-e057484327fe",
        "f731ccc4-e22a-43af-a747-64213329e088",
        "33cf029c-63b0-41a0-9855-be2a3665fb3b",
        "eec63d3c-3b81-4ad4-b1e4-7c147d4d2b61",
        "9be7f096-97ec-4615-8957-8d40b5dcbc41",
        "314e1c25-dde7-4e4d-b2f4-0a7b9f7c56dc",
    }
)

PAGE_SIZE = 100  # MusicBrainz's maximum: fewer pages, fewer rate-limited seconds
MAX_SEARCH_LIMIT = 100
MAX_QUERY_LENGTH = 200  # longer input makes URLs MusicBrainz refuses (414) and matches nothing anyway
MAX_RETRY_AFTER = 60.0  # longer is a misconfiguration upstream, not a plan worth following
# The field lengths of catalog/models.py: longer text is cut here, at the border.
NAME_LENGTH = 500
TITLE_LENGTH = 1000
TYPE_LENGTH = 32
AREA_LENGTH = 200

# Lucene's own QueryParser.escape escapes & and | one by one, which covers && and ||.
_LUCENE_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')
# Upper-case AND/OR/NOT are operators ("Love AND" is a syntax error); the search ignores case.
_LUCENE_OPERATORS = re.compile(r"\b(?:AND|OR|NOT)\b")
_PARTIAL_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


class MusicBrainzError(Exception):
    """MusicBrainz could not be used: still failing after retries, refused the request, or answered nonsense."""


class ArtistNotFound(MusicBrainzError):
    """No artist with this MBID (MusicBrainz said 404, or the MBID is not even a UUID)."""


class QueryTooLong(MusicBrainzError):
    """MusicBrainz refused a search for its length (414): ask again with fewer artists."""


@dataclass(frozen=True)
class ArtistHit:
    mbid: str
    name: str
    sort_name: str
    disambiguation: str
    score: int  # search relevance 0..100; 100 for a lookup by MBID
    artist_type: str = ""
    country: str = ""  # ISO 3166-1 code ("IS"), or MusicBrainz's own ("XE", "XW")
    area: str = ""
    begin: str = ""  # begin and end are partial dates, as partial_date() keeps them
    end: str = ""

    @property
    def years(self) -> str:
        return life_years(self.begin, self.end)

    @property
    def facts(self) -> str:
        return artist_facts(self.artist_type, self.area or self.country, self.years)


def life_years(begin: str, end: str) -> str:
    """ "1994-", "1952-2023", "-2015" (with an en dash) or "": the years of two partial dates."""
    if not begin and not end:
        return ""
    return f"{begin[:4]}\u2013{end[:4]}"


def artist_facts(artist_type: str, where: str, years: str) -> str:
    """ "Group · Iceland · 1994-" (an en dash): what tells an artist from others of the same name."""
    return " · ".join(fact for fact in (artist_type, where, years) if fact)


@dataclass(frozen=True)
class ReleaseGroupData:
    mbid: str
    title: str
    primary_type: str
    secondary_types: tuple[str, ...]
    first_release_date: str  # "", "YYYY", "YYYY-MM" or "YYYY-MM-DD", as MusicBrainz has it


@dataclass(frozen=True)
class FoundReleaseGroup:
    group: ReleaseGroupData
    artist_mbids: tuple[str, ...]


def release_group_query(artist_mbids: Sequence[str], *, start: dt.date, end: dt.date) -> str:
    """The Lucene query for release groups credited to any of these artists, first released in [start, end]."""
    return f"arid:({' OR '.join(artist_mbids)}) AND firstreleasedate:[{start.isoformat()} TO {end.isoformat()}]"


def artists_per_search(*, base_url: str, start: dt.date, end: dt.date, max_url: int) -> int:
    """How many artists one release-group search URL, paging included, can name within ``max_url`` bytes."""
    example = "00000000-0000-0000-0000-000000000000"

    def length(count: int) -> int:
        query = release_group_query([example] * count, start=start, end=end)
        params = {"query": query, "limit": PAGE_SIZE, "offset": 99_999, "fmt": "json"}
        return len(f"{base_url.rstrip('/')}/release-group?{urlencode(params)}")

    per_artist = length(2) - length(1)
    return max(1, (max_url - length(1)) // per_artist + 1)


def escape_lucene(text: str) -> str:
    """Make user input match literally inside a Lucene query."""
    escaped = _LUCENE_SPECIAL.sub(r"\\\1", text)
    return _LUCENE_OPERATORS.sub(lambda match: match.group(0).lower(), escaped)


def canonical_mbid(value: object) -> str | None:
    """The lower-case hyphenated form of an MBID, or None if ``value`` is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = uuid.UUID(value.strip())
    except ValueError:
        return None
    # uuid.UUID also accepts "{...}", "urn:uuid:..." and bare hex; MusicBrainz only the canonical form.
    canonical = str(parsed)
    return canonical if canonical == value.strip().lower() else None


def partial_date(value: object) -> str:
    """A MusicBrainz date kept as the string it is ("", "2024", "2024-03", "2024-03-15"); "" if malformed."""
    if not isinstance(value, str):
        return ""
    match = _PARTIAL_DATE.fullmatch(value.strip())
    if match is None:
        return ""
    year, month, day = match.groups()
    try:
        if day is not None:
            dt.date(int(year), int(month), int(day))
        elif month is not None and not 1 <= int(month) <= 12:
            return ""
    except ValueError:
        return ""
    return match.group(0)


class MusicBrainzClient:
    """One client per unit of work (a task, a request): it holds a ``requests.Session`` and is not thread-safe."""

    def __init__(
        self,
        *,
        base_url: str,
        user_agent: str,
        rate_limiter: RateLimiter,
        timeout: float = 10,
        max_attempts: int = 5,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        wait_for_turn: float | None = None,
        ahead: bool = False,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.user_agent = user_agent
        self.wait_for_turn = wait_for_turn  # None: wait for a turn as long as it takes
        self.ahead = ahead  # someone is waiting: take the lane ahead of background work (ratelimit.py)
        self.rate_limiter = rate_limiter
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.session = session if session is not None else requests.Session()
        self._sleep = sleep
        self.requests_made = 0  # retries included

    def search_artists(self, query: str, *, limit: int = 25) -> list[ArtistHit]:
        """Artists matching what a person typed, best first, special-purpose artists left out."""
        text = clean_text(query).strip()[:MAX_QUERY_LENGTH]
        if not text:
            return []
        limit = min(max(limit, 1), MAX_SEARCH_LIMIT)
        return self._get("artist", {"query": escape_lucene(text), "limit": limit}, _parse_search)

    def get_artist(self, mbid: str) -> ArtistHit:
        """Look one artist up; a merged artist's old MBID answers with the new one, so ``mbid`` can differ."""
        canonical = canonical_mbid(mbid)
        if canonical is None:
            # MusicBrainz would answer 400; for a caller it is simply not an artist.
            raise ArtistNotFound(f"not an MBID: {mbid!r}")
        return self._get(f"artist/{canonical}", {}, _parse_lookup, not_found=ArtistNotFound)

    def browse_release_groups(self, artist_mbid: str) -> list[ReleaseGroupData]:
        """Every release group of an artist, in MusicBrainz's order, each once."""
        canonical = canonical_mbid(artist_mbid)
        if canonical is None:
            raise ArtistNotFound(f"not an MBID: {artist_mbid!r}")
        found: dict[str, ReleaseGroupData] = {}
        offset = 0
        while True:
            params: dict[str, str | int] = {"artist": canonical, "limit": PAGE_SIZE, "offset": offset}
            page = self._get("release-group", params, _parse_release_group_page, not_found=ArtistNotFound)
            total, entries, groups = page
            for group in groups:
                # A group added while we page shifts the others: the same one can come back on the next page.
                found.setdefault(group.mbid, group)
            # Count entries, not kept groups: skipped malformed ones still took a place.
            offset += entries
            # An empty page ends it too: a count that lies must not loop forever.
            if entries == 0 or offset >= total:
                return list(found.values())

    def search_release_groups(
        self, artist_mbids: Sequence[str], *, start: dt.date, end: dt.date
    ) -> Iterator[list[FoundReleaseGroup]]:
        """Pages of release groups by these artists, first released in [start, end]; a failed page keeps the earlier."""
        wanted = sorted({m for m in (canonical_mbid(a) for a in artist_mbids) if m} - SPECIAL_PURPOSE_ARTISTS)
        if not wanted:
            return
        query = release_group_query(wanted, start=start, end=end)
        seen: set[str] = set()
        offset = 0
        while True:
            params: dict[str, str | int] = {"query": query, "limit": PAGE_SIZE, "offset": offset}
            total, entries, found = self._get("release-group", params, _parse_release_group_search)
            fresh = [f for f in found if f.group.mbid not in seen]
            seen.update(f.group.mbid for f in fresh)
            yield fresh
            offset += entries
            if entries == 0 or offset >= total:
                return

    def _get[T](
        self,
        path: str,
        params: dict[str, str | int],
        parse: Callable[[Any], T],
        *,
        not_found: type[MusicBrainzError] = MusicBrainzError,
    ) -> T:
        def before_each() -> None:
            try:
                self.rate_limiter.acquire(timeout=self.wait_for_turn, ahead=self.ahead)
            except RateLimitTimeout as exc:
                raise MusicBrainzError("too many requests queued for MusicBrainz") from exc
            self.requests_made += 1

        def on_status(response: requests.Response) -> Retry:
            status = response.status_code
            if status == 404:
                raise not_found(f"GET {response.url}: 404 Not Found")
            if status == 414:
                raise QueryTooLong(f"GET {path}: 414, a URL of {len(response.url or '')} bytes is too long")
            if status == 429 or status >= 500:
                retry_after = retry_after_seconds(response.headers.get("Retry-After"), longest=MAX_RETRY_AFTER)
                if retry_after is None:
                    return Retry(f"HTTP {status}")
                # Every process waits, not just this one: the limit is per IP.
                self.rate_limiter.pause(retry_after)
                return Retry(f"HTTP {status}, Retry-After {retry_after:g} s", delay=0.0)
            # 400, 401, 403 (a blocked User-Agent)...: the same request will fail again
            raise MusicBrainzError(f"GET {response.url}: HTTP {status} {response.text[:200]!r}")

        return get_json(
            service="MusicBrainz",
            session=self.session,
            url=f"{self.base_url}/{path}",
            params={**params, "fmt": "json"},
            headers={"User-Agent": self.user_agent, "Accept": "application/json"},
            timeout=self.timeout,
            max_attempts=self.max_attempts,
            parse=parse,
            on_status=on_status,
            error=MusicBrainzError,
            before_each=before_each,
            sleep=self._sleep,
        )


# Parsers raise BadBody for a shape they don't know: a retried MusicBrainzError, never a KeyError in a task.


def _text(value: object, length: int) -> str:
    return clean_text(value).strip()[:length] if isinstance(value, str) else ""


def _artist(entry: object, *, score: int | None) -> ArtistHit | None:
    if not isinstance(entry, dict):
        return None
    mbid = canonical_mbid(entry.get("id"))
    name = _text(entry.get("name"), NAME_LENGTH)
    if mbid is None or not name:
        return None
    return ArtistHit(
        mbid=mbid,
        name=name,
        sort_name=_text(entry.get("sort-name"), NAME_LENGTH) or name,
        disambiguation=_text(entry.get("disambiguation"), NAME_LENGTH),
        score=score if score is not None else _score(entry.get("score")),
        **_details(entry),
    )


def _details(entry: dict[str, Any]) -> dict[str, str]:
    """Type, country, area and life span: each "" when missing, null or of a shape we don't know."""
    area = entry.get("area")
    life = entry.get("life-span")
    life = life if isinstance(life, dict) else {}
    country = _text(entry.get("country"), 3)
    return {
        "artist_type": _text(entry.get("type"), TYPE_LENGTH),
        "country": country.upper() if country.isalpha() and len(country) == 2 else "",
        "area": _text(area.get("name"), AREA_LENGTH) if isinstance(area, dict) else "",
        "begin": partial_date(life.get("begin")),
        "end": partial_date(life.get("end")),
    }


def _score(value: object) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():  # older servers sent "100"
        return int(value)
    return 0


def _parse_search(data: Any) -> list[ArtistHit]:
    if not isinstance(data, dict) or not isinstance(data.get("artists"), list):
        raise BadBody("no 'artists' list")
    hits = []
    for entry in data["artists"]:
        hit = _artist(entry, score=None)
        if hit is None:
            logger.warning("MusicBrainz search: skipping an artist without id or name: %.200r", entry)
        elif hit.mbid not in SPECIAL_PURPOSE_ARTISTS:
            hits.append(hit)
    return hits


def _parse_lookup(data: Any) -> ArtistHit:
    hit = _artist(data, score=100)
    if hit is None:
        raise BadBody("artist without id or name")
    return hit


def _parse_release_group_page(data: Any) -> tuple[int, int, list[ReleaseGroupData]]:
    """(release-group-count, entries on this page, the usable release groups)."""
    if not isinstance(data, dict):
        raise BadBody("not an object")
    total = data.get("release-group-count")
    entries = data.get("release-groups")
    if isinstance(total, bool) or not isinstance(total, int) or not isinstance(entries, list):
        raise BadBody("no 'release-group-count' and 'release-groups'")
    groups = []
    for entry in entries:
        group = _release_group(entry)
        if group is None:
            logger.warning("MusicBrainz browse: skipping a release group without id or title: %.200r", entry)
        else:
            groups.append(group)
    return total, len(entries), groups


def _parse_release_group_search(data: Any) -> tuple[int, int, list[FoundReleaseGroup]]:
    """(count, entries on this page, the usable release groups with their credited artists)."""
    if not isinstance(data, dict):
        raise BadBody("not an object")
    total = data.get("count")
    entries = data.get("release-groups")
    if isinstance(total, bool) or not isinstance(total, int) or not isinstance(entries, list):
        raise BadBody("no 'count' and 'release-groups'")
    found = []
    for entry in entries:
        group = _release_group(entry)
        credit = entry.get("artist-credit") if isinstance(entry, dict) else None
        mbids = []
        for part in credit if isinstance(credit, list) else []:
            artist = part.get("artist") if isinstance(part, dict) else None
            mbid = canonical_mbid(artist.get("id")) if isinstance(artist, dict) else None
            if mbid is not None and mbid not in SPECIAL_PURPOSE_ARTISTS and mbid not in mbids:
                mbids.append(mbid)
        if group is None or not mbids:
            logger.warning("MusicBrainz search: skipping a release group without id, title or credit: %.200r", entry)
        else:
            found.append(FoundReleaseGroup(group=group, artist_mbids=tuple(mbids)))
    return total, len(entries), found


def _release_group(entry: object) -> ReleaseGroupData | None:
    if not isinstance(entry, dict):
        return None
    mbid = canonical_mbid(entry.get("id"))
    title = _text(entry.get("title"), TITLE_LENGTH)
    if mbid is None or not title:
        return None
    secondary_types = entry.get("secondary-types")
    return ReleaseGroupData(
        mbid=mbid,
        title=title,
        primary_type=_text(entry.get("primary-type"), TYPE_LENGTH),
        secondary_types=tuple(_text(t, TYPE_LENGTH) for t in secondary_types if isinstance(t, str))
        if isinstance(secondary_types, list)
        else (),
        first_release_date=partial_date(entry.get("first-release-date")),
    )


def default_client(*, interactive: bool = False, max_attempts: int | None = None) -> MusicBrainzClient:
    """A client sharing the app-wide budget; ``interactive``: someone waits, so two short tries in the lane ahead."""
    return MusicBrainzClient(
        base_url=settings.MUSICBRAINZ_URL,
        user_agent=settings.MUSICBRAINZ_USER_AGENT,
        rate_limiter=RateLimiter(
            RATE_LIMIT_KEY,
            settings.MUSICBRAINZ_REQUESTS_PER_SECOND,
            ahead_per_second=settings.MUSICBRAINZ_INTERACTIVE_PER_MINUTE / 60,
        ),
        timeout=5 if interactive else settings.UPSTREAM_TIMEOUT,
        max_attempts=max_attempts or (2 if interactive else 5),
        wait_for_turn=5 if interactive else None,
        ahead=interactive,
    )
