"""A local stand-in for MusicBrainz and ListenBrainz: a real HTTP server on loopback.

The real services cannot be reached from tests (nor should they be), so this
server answers with the JSON shapes they document (see /work/shared/FACTS.md),
records every request it gets, and can be told to misbehave.

Use it from any test::

    from tests.catalog.upstream import serve, release_group

    with serve() as server:                       # or the `upstream` fixture in tests/catalog
        server.set_release_groups(mbid, [release_group("Takk…", date="2005-09-12")])
        client = MusicBrainzClient(base_url=server.musicbrainz_url, ...)
        ...
        assert len(server.requests_to("/ws/2/release-group")) == 1

Scripted misbehaviour, matched by the request's subject (the artist MBID of a
lookup or browse, the user name of ListenBrainz stats, "search" for an artist
search) or by a path prefix starting with "/":

    server.script(mbid, unavailable(retry_after=2), times=3)   # three 503s, then normal answers
    server.always("search", garbage())                       # every search gets an HTML page

The release-group search (``/release-group?query=...``, subject "release-group-search")
understands the subset of Lucene batch discovery sends: ``arid:(A OR B …)`` or
``arid:A``, ``firstreleasedate:[X TO Y]`` (compared as strings, as the index
stores partial dates: "2026-12" falls inside [2026-11-24 TO 2026-12-31], "" never
matches), joined with AND. Like the real front end it refuses a request line
longer than ``max_request_line`` with 414, and a query with more than
``max_clauses`` terms with 400. ``search_lag`` delays when a new group becomes
searchable, ``max_per_second`` answers 503 to a client going over the rate, and
``clock`` (``time.monotonic`` by default) can be swapped for a simulated one.
"""

import dataclasses
import json
import re
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from requests.structures import CaseInsensitiveDict

MUSICBRAINZ_PREFIX = "/ws/2"
COVER_ART_PREFIX = "/coverart"
_FIXTURE_NAMESPACE = uuid.UUID("5d0f6a57-1b3c-4f4e-9a86-8b0f3f6a2c11")


def fixture_mbid(*parts: str) -> str:
    """A stable made-up MBID (fixture data, not the real MusicBrainz ids), of the version MusicBrainz issues (4).

    Version 5 is how our own made-up artists (the demo's) say so, and the catalog never syncs those.
    """
    return str(uuid.UUID(bytes=uuid.uuid5(_FIXTURE_NAMESPACE, "/".join(parts)).bytes, version=4))


# --- Fixture data ------------------------------------------------------------

SIGUR_ROS = fixture_mbid("artist", "Sigur Rós")
OLAFUR_ARNALDS = fixture_mbid("artist", "Ólafur Arnalds")
RYUICHI_SAKAMOTO = fixture_mbid("artist", "坂本龍一")
MOTORHEAD = fixture_mbid("artist", "Motörhead")
AC_DC = fixture_mbid("artist", "AC/DC")
SIMON_AND_GARFUNKEL = fixture_mbid("artist", "Simon & Garfunkel")
# The real special-purpose MBIDs: the client must recognise these exact ids.
VARIOUS_ARTISTS = "89ad4ac3-39f7-470e-963a-56509c546377"
UNKNOWN_ARTIST = "125ec42a-7229-4250-afc5-e057484327fe"

_PRIMARY_TYPE_IDS = {
    "Album": "f529b476-6e62-324f-b0aa-1f3e33d313fc",
    "Single": "d6038452-8ee0-3f68-affc-2de9a1ede0b9",
    "EP": "6d0c5bf6-7a33-3420-a519-44fc63eedebf",
    "Broadcast": "4fc3be2b-de1e-396b-a933-beb8f1607a22",
    "Other": "4fc3be2b-de1e-396b-a933-beb8f1607a22",
}
_SECONDARY_TYPE_IDS = {
    "Compilation": "dd2a21e1-0c00-3729-a7a0-de60b84eb5d1",
    "Live": "6fd474e2-6b58-3102-9e3f-5ce8c4c2d4e0",
    "Remix": "0c60f497-ff81-3818-befd-abfc84a4858b",
    "Soundtrack": "22a628ad-c082-3c4f-b1b6-d41665107b88",
}


_ARTIST_TYPE_IDS = {
    "Group": "e431f5f6-b5d2-343d-8b36-72607fffb74b",
    "Person": "b6e035f4-3ce9-331c-97df-83397230b0df",
    "Orchestra": "a0b36c92-3eb1-3839-a4f9-4799823f54a5",
}


def artist(
    name: str,
    *,
    mbid: str | None = None,
    sort_name: str | None = None,
    disambiguation: str = "",
    type: str | None = "Group",  # MusicBrainz's own field name
    country: str | None = None,
    area: str | None = None,
    begin: str | None = None,
    end: str | None = None,
) -> dict[str, Any]:
    """An artist as a MusicBrainz lookup returns it (search adds a score); unknown fields are null, as there."""
    entry: dict[str, Any] = {
        "id": mbid or fixture_mbid("artist", name),
        "name": name,
        "sort-name": sort_name or name,
        "disambiguation": disambiguation,
        "type": type,
        "type-id": _ARTIST_TYPE_IDS.get(type or "", fixture_mbid("type", str(type))) if type else None,
        "country": country,
        "life-span": {"begin": begin, "end": end, "ended": end is not None},
        "isnis": [],
        "ipis": [],
    }
    if area is not None:
        entry["area"] = {"id": fixture_mbid("area", area), "type": "Country", "name": area, "sort-name": area}
    return entry


def release_group(
    title: str,
    *,
    mbid: str | None = None,
    primary_type: str | None = "Album",
    secondary_types: Iterable[str] = (),
    date: str = "",
) -> dict[str, Any]:
    """A release group as MusicBrainz's browse returns it ("primary-type" may be None, "first-release-date" "")."""
    secondary = list(secondary_types)
    return {
        "id": mbid or fixture_mbid("release-group", title, date),
        "title": title,
        "primary-type": primary_type,
        "primary-type-id": _PRIMARY_TYPE_IDS.get(primary_type) if primary_type else None,
        "secondary-types": secondary,
        "secondary-type-ids": [_SECONDARY_TYPE_IDS.get(t, fixture_mbid("type", t)) for t in secondary],
        "first-release-date": date,
        "disambiguation": "",
    }


def many_release_groups(count: int, *, seed: str = "catalog") -> list[dict[str, Any]]:
    """``count`` distinct release groups, for paging: a mix of types and date precisions."""
    types = ["Album", "Single", "EP", None]
    groups = []
    for n in range(count):
        year = 1970 + n % 55
        date = [f"{year}-{n % 12 + 1:02d}-{n % 28 + 1:02d}", f"{year}-{n % 12 + 1:02d}", f"{year}", ""][n % 4]
        groups.append(
            release_group(f"Release {n + 1}", mbid=fixture_mbid(seed, str(n)), primary_type=types[n % 4], date=date)
        )
    return groups


def listenbrainz_artist(name: str, listen_count: int, *, mbid: str | None = "auto") -> dict[str, Any]:
    """A top-artists entry. ``mbid="auto"``: a made-up id; None: ``artist_mbid`` null; "": the key left out."""
    entry: dict[str, Any] = {"artist_name": name, "listen_count": listen_count}
    if mbid == "auto":
        entry["artist_mbid"] = fixture_mbid("artist", name)
    elif mbid != "":
        entry["artist_mbid"] = mbid
    return entry


# Modelled on the real discographies (titles, types and date precisions), trimmed.
DEFAULT_ARTISTS: list[dict[str, Any]] = [
    artist(
        "Sigur Rós",
        mbid=SIGUR_ROS,
        disambiguation="Icelandic post-rock band",
        country="IS",
        area="Iceland",
        begin="1994",
    ),
    artist(
        "Ólafur Arnalds",
        mbid=OLAFUR_ARNALDS,
        sort_name="Arnalds, Ólafur",
        type="Person",
        country="IS",
        area="Iceland",
        begin="1986-11-03",
    ),
    artist(
        "坂本龍一",
        mbid=RYUICHI_SAKAMOTO,
        sort_name="Sakamoto, Ryuichi",
        type="Person",
        country="JP",
        area="Japan",
        begin="1952-01-17",
        end="2023-03-28",
    ),
    artist("Motörhead", mbid=MOTORHEAD, country="GB", area="United Kingdom", begin="1975-06", end="2015-12-28"),
    artist("AC/DC", mbid=AC_DC, country="AU", area="Australia", begin="1973-11"),
    artist("Simon & Garfunkel", mbid=SIMON_AND_GARFUNKEL, country="US", area="United States", begin="1957"),
    artist("Various Artists", mbid=VARIOUS_ARTISTS, disambiguation="add compilations to this artist", type="Other"),
    artist("[unknown]", mbid=UNKNOWN_ARTIST, disambiguation="Special Purpose Artist", type="Other"),
]
DEFAULT_RELEASE_GROUPS: dict[str, list[dict[str, Any]]] = {
    SIGUR_ROS: [
        release_group("Ágætis byrjun", date="1999-06-12"),
        release_group("( )", date="2002-10-28"),
        release_group("Takk…", date="2005-09-12"),
        release_group("Hvarf/Heim", secondary_types=["Compilation"], date="2007-11-05"),
    ],
    # Every shape the catalog must cope with, in one artist.
    OLAFUR_ARNALDS: [
        release_group("some kind of peace", date="2020-11-06"),
        release_group("Ljósið", primary_type="Single", date="2024-03-15"),
        release_group("Living Room Songs", primary_type="EP", date="2024-03"),
        release_group("re:member", date="2024"),
        release_group("Untitled session", primary_type=None, date=""),
        release_group("Island Songs (live)", secondary_types=["Live", "Compilation"], date="2016-08-12"),
    ],
    RYUICHI_SAKAMOTO: [
        release_group("戦場のメリークリスマス", secondary_types=["Soundtrack"], date="1983-05"),
        release_group("async", date="2017-03-29"),
        release_group("12", date="2023-01-17"),
    ],
    MOTORHEAD: [
        release_group("Overkill", date="1979-03-24"),
        release_group("Ace of Spades", date="1980-11-08"),
        release_group("No Sleep 'til Hammersmith", secondary_types=["Live"], date="1981-06-27"),
    ],
}
DEFAULT_LISTENBRAINZ_USERS: dict[str, list[dict[str, Any]] | None] = {
    "rob": [
        listenbrainz_artist("Sigur Rós", 1204, mbid=SIGUR_ROS),
        listenbrainz_artist("Motörhead", 877, mbid=MOTORHEAD),
        listenbrainz_artist("坂本龍一", 450, mbid=RYUICHI_SAKAMOTO),
        listenbrainz_artist("Some Bandcamp Act", 120, mbid=None),
    ],
    "newcomer": None,  # signed up, statistics not computed yet: 204
}


# Two artists to each of two names, for imports that must ask which one was meant.
NIRVANA_US = "11111111-2222-4333-8444-000000000001"
NIRVANA_UK = "11111111-2222-4333-8444-000000000002"
GENESIS_UK = "11111111-2222-4333-8444-000000000003"
GENESIS_US = "11111111-2222-4333-8444-000000000004"


def same_names(server: "UpstreamServer") -> None:
    """Two Nirvanas and two Geneses: the first of each is the best match (it comes first, as the better score)."""
    server.add_artist(
        "Nirvana", mbid=NIRVANA_US, disambiguation="90s US grunge band", country="US", area="United States",
        begin="1987", end="1994",
    )  # fmt: skip
    server.add_artist(
        "Nirvana", mbid=NIRVANA_UK, disambiguation="60s UK band", country="GB", area="United Kingdom", begin="1965"
    )
    server.add_artist("Genesis", mbid=GENESIS_UK, disambiguation="English rock band", country="GB", begin="1967")
    server.add_artist("Genesis", mbid=GENESIS_US, disambiguation="US gospel group", type="Group", country="US")


def png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (91, 61, 245)) -> bytes:
    """A real PNG of one colour, for the cover art archive's images."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


# --- Scripted replies ------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``body=None`` means the normal answer's body (optionally delayed or cut short)."""

    status: int = 200
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    delay: float = 0.0
    truncate: bool = False


_HTML_503 = b"<html><head><title>503 Service Temporarily Unavailable</title></head><body><h1>503</h1></body></html>"


def unavailable(*, retry_after: float | str | None = None, status: int = 503) -> Reply:
    """What MusicBrainz's front end answers when over its rate limit (or down): 503 and an HTML page."""
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after}"}
    return Reply(status=status, body=_HTML_503, headers=headers, content_type="text/html")


def too_many_requests(*, retry_after: float | None = None, reset_in: float | None = None) -> Reply:
    """429; MusicBrainz would say Retry-After, ListenBrainz X-RateLimit-Reset-In."""
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after}"
    if reset_in is not None:
        headers.update({"X-RateLimit-Limit": "30", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-In": f"{reset_in}"})
    return Reply(status=429, body=b'{"code": 429, "error": "Too many requests"}', headers=headers)


def garbage() -> Reply:
    """A 200 with an HTML page, as a captive portal or a misrouted proxy gives."""
    return Reply(body=b"<!DOCTYPE html><html><body>Oops, something went wrong</body></html>", content_type="text/html")


def truncated() -> Reply:
    """The normal JSON cut in half (with a matching Content-Length)."""
    return Reply(truncate=True)


def wrong_shape() -> Reply:
    """Valid JSON, not the shape asked for."""
    return Reply(body=b'{"error": "unexpected", "items": "none"}')


def not_found() -> Reply:
    return Reply(status=404, body=b'{"error": "Not Found"}')


def slow(seconds: float) -> Reply:
    """The normal answer, ``seconds`` late (longer than the client's timeout, to test timeouts)."""
    return Reply(delay=seconds)


def no_content() -> Reply:
    """ListenBrainz's "statistics not computed yet"."""
    return Reply(status=204, body=b"")


# --- Requests as received ---------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # percent-decoded, without the query string
    query: dict[str, list[str]]
    headers: CaseInsensitiveDict[str]
    arrived: float  # time.monotonic() of this (the test) process
    subject: str  # what scripts match: artist MBID, ListenBrainz user name, "search", or ""
    client_port: int  # the same port for two requests: the client kept its connection open

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


# --- The server -----------------------------------------------------------------------


class UpstreamServer:
    """MusicBrainz under ``musicbrainz_url``, ListenBrainz under ``listenbrainz_url``, one port."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self.artists: dict[str, dict[str, Any]] = {}
        self.release_groups: dict[str, list[dict[str, Any]]] = {}
        self.listenbrainz_users: dict[str, list[dict[str, Any]] | None] = {}
        self.covers: dict[str, bytes] = {}  # release-group MBID -> its front image (PNG)
        self._scripts: dict[str, list[Reply]] = {}
        self._always: dict[str, Reply] = {}
        # The search's view: which artists credit each group, and when the index has a group.
        self._credits: dict[str, list[str]] = {}
        self._indexed_at: dict[str, float] = {}
        self.clock = time.monotonic
        self.search_lag = 0.0
        self.max_request_line = 8190  # nginx's default large_client_header_buffers: 8 KB
        self.max_clauses = 1024  # Lucene's default maxClauseCount
        self.max_per_second: float | None = None
        self.burst = 2
        self._rate_tat = 0.0
        self.load_defaults()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        # Don't wait for handlers still sleeping in a slow reply when stopping.
        self._httpd.block_on_close = False
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="upstream", daemon=True
        )

    # --- lifecycle

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def musicbrainz_url(self) -> str:
        return self.url + MUSICBRAINZ_PREFIX

    @property
    def listenbrainz_url(self) -> str:
        return self.url

    @property
    def cover_art_url(self) -> str:
        return self.url + COVER_ART_PREFIX

    def start(self) -> "UpstreamServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    # --- data

    def load_defaults(self) -> None:
        with self._lock:
            self.artists = {a["id"]: dict(a) for a in DEFAULT_ARTISTS}
            self.release_groups = {}
            self._credits = {}
            self._indexed_at = {}
            self.listenbrainz_users = dict(DEFAULT_LISTENBRAINZ_USERS)
        for mbid, groups in DEFAULT_RELEASE_GROUPS.items():
            self.set_release_groups(mbid, groups, indexed=True)

    def add_artist(self, name: str, *, mbid: str | None = None, **fields: Any) -> str:
        entry = artist(name, mbid=mbid, **fields)
        with self._lock:
            self.artists[entry["id"]] = entry
        return str(entry["id"])

    def set_release_groups(self, artist_mbid: str, groups: list[dict[str, Any]], *, indexed: bool = False) -> None:
        """The artist's whole catalog (the artist is created if unknown).

        A group in several artists' catalogs is credited to all of them in the
        search. New groups reach the search index ``search_lag`` seconds later,
        unless ``indexed`` (already in the index: the catalogue as it stood).
        """
        with self._lock:
            self.artists.setdefault(artist_mbid, artist(f"Artist {artist_mbid[:8]}", mbid=artist_mbid))
            for group in self._searchable(self.release_groups.get(artist_mbid, [])):
                credit = self._credits.get(group["id"], [])
                if artist_mbid in credit:
                    credit.remove(artist_mbid)
            self.release_groups[artist_mbid] = list(groups)
            ready = 0.0 if indexed else self.clock() + self.search_lag
            for group in self._searchable(groups):
                credit = self._credits.setdefault(group["id"], [])
                if artist_mbid not in credit:
                    credit.append(artist_mbid)
                self._indexed_at.setdefault(group["id"], ready)

    @staticmethod
    def _searchable(groups: list[Any]) -> list[dict[str, Any]]:
        """The entries the search can index: fixtures of broken data (a string, no id) only the browse serves."""
        return [g for g in groups if isinstance(g, dict) and isinstance(g.get("id"), str)]

    def set_top_artists(self, user_name: str, artists: list[dict[str, Any]] | None) -> None:
        """A ListenBrainz user's top artists; None: statistics not computed yet (204)."""
        with self._lock:
            self.listenbrainz_users[user_name] = artists

    # --- misbehaviour

    def script(self, key: str, *replies: Reply, times: int = 1) -> None:
        """Serve ``replies`` (``times`` over) to the next requests matching ``key``, then normal answers again."""
        with self._lock:
            self._scripts.setdefault(key, []).extend(list(replies) * times)

    def always(self, key: str, reply: Reply | None) -> None:
        """Serve ``reply`` to every request matching ``key`` (after any script); None stops it."""
        with self._lock:
            if reply is None:
                self._always.pop(key, None)
            else:
                self._always[key] = reply

    def reset(self) -> None:
        """Back to the default data, no scripts, no recorded requests, no rate remembered."""
        with self._lock:
            self._scripts.clear()
            self._always.clear()
            self.requests.clear()
            self.covers.clear()
            self._rate_tat = 0.0
        self.load_defaults()

    # --- what was asked

    def requests_to(self, path_prefix: str, *, subject: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [
                r for r in self.requests if r.path.startswith(path_prefix) and (subject is None or r.subject == subject)
            ]

    def browse_requests(self, artist_mbid: str | None = None) -> list[RecordedRequest]:
        return self.requests_to(f"{MUSICBRAINZ_PREFIX}/release-group", subject=artist_mbid)

    # --- answering (called from handler threads)

    def _record(self, handler: BaseHTTPRequestHandler) -> RecordedRequest:
        arrived = time.monotonic()
        parts = urlsplit(handler.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        request = RecordedRequest(
            method=handler.command,
            path=path,
            query=query,
            headers=CaseInsensitiveDict(dict(handler.headers.items())),
            arrived=arrived,
            subject=_subject(path, query),
            client_port=int(handler.client_address[1]),
        )
        with self._lock:
            self.requests.append(request)
        return request

    def _scripted(self, request: RecordedRequest) -> Reply | None:
        with self._lock:
            for source in (self._scripts, self._always):
                for key, value in source.items():
                    if key == request.subject or (key.startswith("/") and request.path.startswith(key)):
                        if isinstance(value, Reply):
                            return value
                        if value:
                            return value.pop(0)
        return None

    def answer(self, request: RecordedRequest) -> Reply:
        """The normal answer, as the real service would give it."""
        if request.path.startswith(MUSICBRAINZ_PREFIX + "/"):
            return self._musicbrainz(request, request.path[len(MUSICBRAINZ_PREFIX) :])
        match = re.fullmatch(r"/1/stats/user/([^/]+)/artists", request.path)
        if match:
            return self._listenbrainz_top_artists(request, match.group(1))
        if request.path.startswith(COVER_ART_PREFIX + "/"):
            return self._cover_art(request.path[len(COVER_ART_PREFIX) :])
        return _json(404, {"code": 404, "error": "Not found"})

    def _cover_art(self, path: str) -> Reply:
        """The Cover Art Archive: a thumbnail's URL redirects to where the image is stored, or is a 404."""
        front = re.fullmatch(r"/release-group/([0-9a-f-]{36})/front(?:-(250|500|1200))?", path)
        stored = re.fullmatch(r"/images/([0-9a-f-]{36})-\d+\.png", path)
        with self._lock:
            covers = dict(self.covers)
        if front and front.group(1) in covers:
            location = f"{COVER_ART_PREFIX}/images/{front.group(1)}-{front.group(2) or 1200}.png"
            return Reply(status=307, body=b"", headers={"Location": location}, content_type="text/plain")
        if stored and stored.group(1) in covers:
            return Reply(body=covers[stored.group(1)], content_type="image/png")
        return Reply(status=404, body=b"No cover art found for this release group", content_type="text/plain")

    def _musicbrainz(self, request: RecordedRequest, path: str) -> Reply:
        user_agent = request.headers.get("User-Agent", "")
        if not user_agent or re.match(r"(python-requests|python-urllib|curl)/", user_agent, re.IGNORECASE):
            # MusicBrainz blocks anonymous clients outright.
            return Reply(
                status=403, body=b"Your requests are being blocked: set a User-Agent", content_type="text/plain"
            )
        if request.param("fmt") != "json" and "application/json" not in request.headers.get("Accept", ""):
            return Reply(body=b'<?xml version="1.0"?><metadata/>', content_type="application/xml")
        if path == "/artist" and request.param("query") is not None:
            return self._search(request)
        lookup = re.fullmatch(r"/artist/([^/]+)", path)
        if lookup:
            return self._lookup(lookup.group(1))
        if path == "/release-group" and request.param("artist") is not None:
            return self._browse(request)
        if path == "/release-group" and request.param("query") is not None:
            return self._release_group_search(request)
        return _json(400, {"error": "Invalid resource or missing parameters."})

    def over_rate(self) -> bool:
        """True when this request goes over ``max_per_second`` (a GCRA with ``burst``): answer 503."""
        if self.max_per_second is None:
            return False
        with self._lock:
            now, interval = self.clock(), 1 / self.max_per_second
            tat = max(self._rate_tat, now)
            if tat - now > interval * (self.burst - 1) + 1e-6:
                return True
            self._rate_tat = tat + interval
            return False

    def _release_group_search(self, request: RecordedRequest) -> Reply:
        limit, offset = _int_param(request, "limit", 25), _int_param(request, "offset", 0)
        if limit is None or offset is None:
            return _json(400, {"error": "Invalid limit or offset."})
        parsed = parse_release_group_query(request.param("query") or "")
        if isinstance(parsed, str):
            return _json(400, {"error": parsed})
        arids, start, end = parsed
        if len(arids) > self.max_clauses:
            return _json(400, {"error": f"too many boolean clauses ({len(arids)} > {self.max_clauses})"})
        now = self.clock()
        with self._lock:
            found: dict[str, dict[str, Any]] = {}
            for arid in arids:
                for group in self._searchable(self.release_groups.get(arid, [])):
                    date = group.get("first-release-date") or ""
                    if not date or self._indexed_at.get(group["id"], 0.0) > now:
                        continue
                    if (start is None or date >= start) and (end is None or date <= end):
                        found.setdefault(group["id"], group)
            hits = sorted(found.values(), key=lambda g: (g.get("first-release-date") or "", g["id"]))
            page = [
                {**group, "score": 100, "count": 1, "artist-credit": self._credit_of(group)}
                for group in hits[offset : offset + min(limit, 100)]
            ]
        return _json(
            200, {"created": "2026-12-01T10:00:00.000Z", "count": len(hits), "offset": offset, "release-groups": page}
        )

    def _credit_of(self, group: dict[str, Any]) -> list[dict[str, Any]]:
        if "artist-credit" in group:  # as the fixture gives it (odd credits)
            return list(group["artist-credit"])
        credit = []
        mbids = self._credits.get(group["id"], [])
        for n, mbid in enumerate(mbids):
            entry = self.artists.get(mbid) or artist(f"Artist {mbid[:8]}", mbid=mbid)
            credit.append(
                {
                    "name": entry["name"],
                    "joinphrase": " & " if n < len(mbids) - 1 else "",
                    "artist": {"id": mbid, "name": entry["name"], "sort-name": entry["sort-name"]},
                }
            )
        return credit

    def _search(self, request: RecordedRequest) -> Reply:
        limit, offset = _int_param(request, "limit", 25), _int_param(request, "offset", 0)
        if limit is None or offset is None:
            return _json(400, {"error": "Invalid limit or offset."})
        # Undo the Lucene escaping and match loosely: enough to find fixtures by name.
        words = re.sub(r"\\(.)", r"\1", request.param("query") or "").casefold().split()
        with self._lock:
            candidates = list(self.artists.values())
        hits = []
        for entry in candidates:
            haystack = f"{entry['name']} {entry['sort-name']}".casefold()
            if words and all(word in haystack for word in words):
                exact = " ".join(words) == entry["name"].casefold()
                hits.append({**entry, "score": 100 if exact else 80})
        hits.sort(key=lambda hit: -hit["score"])
        page = hits[offset : offset + min(limit, 100)]
        return _json(
            200, {"created": "2024-03-15T10:00:00.000Z", "count": len(hits), "offset": offset, "artists": page}
        )

    def _lookup(self, mbid: str) -> Reply:
        try:
            uuid.UUID(mbid)
        except ValueError:
            return _json(400, {"error": "Invalid mbid."})
        with self._lock:
            entry = self.artists.get(mbid)
        if entry is None:
            return _json(404, {"error": "Not Found"})
        return _json(200, entry)

    def _browse(self, request: RecordedRequest) -> Reply:
        mbid = request.param("artist") or ""
        limit, offset = _int_param(request, "limit", 25), _int_param(request, "offset", 0)
        if limit is None or offset is None:
            return _json(400, {"error": "Invalid limit or offset."})
        with self._lock:
            known = mbid in self.artists
            groups = list(self.release_groups.get(mbid, []))
        if not known:
            return _json(404, {"error": "Not Found"})
        wanted = request.param("type")
        if wanted:
            types = set(wanted.lower().split("|"))
            valid = {"album", "single", "ep", "broadcast", "other", "compilation", "live", "remix", "soundtrack"}
            if not types <= valid:
                return _json(400, {"error": f"Invalid type: {wanted}"})
            groups = [
                g
                for g in groups
                if (g["primary-type"] or "").lower() in types or types & {t.lower() for t in g["secondary-types"]}
            ]
        page = groups[offset : offset + min(limit, 100)]
        return _json(200, {"release-group-count": len(groups), "release-group-offset": offset, "release-groups": page})

    def _listenbrainz_top_artists(self, request: RecordedRequest, user_name: str) -> Reply:
        range_ = request.param("range") or "all_time"
        count, offset = _int_param(request, "count", 25), _int_param(request, "offset", 0)
        if count is None or offset is None or range_ not in _LISTENBRAINZ_RANGES:
            return _json(400, {"code": 400, "error": "Bad request"})
        with self._lock:
            if user_name not in self.listenbrainz_users:
                return _json(404, {"code": 404, "error": f"Cannot find user: {user_name}"})
            artists = self.listenbrainz_users[user_name]
        if artists is None:
            return no_content()
        page = artists[offset : offset + min(count, 1000)]
        payload = {
            "user_id": user_name,
            "artists": page,
            "count": len(page),
            "total_artist_count": len(artists),
            "offset": offset,
            "range": range_,
            "from_ts": 1009843200,
            "to_ts": 1710460800,
            "last_updated": 1710460800,
        }
        return _json(200, {"payload": payload})


_LISTENBRAINZ_RANGES = {
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


_MBID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ARID = re.compile(rf"arid:(?:\(\s*({_MBID}(?:\s+OR\s+{_MBID})*)\s*\)|({_MBID}))")
_DATES = re.compile(r"firstreleasedate:\[\s*(\S+)\s+TO\s+(\S+)\s*\]")


def parse_release_group_query(query: str) -> tuple[list[str], str | None, str | None] | str:
    """(artist ids, first date or None, last date or None) of a discovery query, or the error message."""
    arids: list[str] = []
    start = end = None
    for clause in re.split(r"\s+AND\s+", query.strip()):
        arid, dates = _ARID.fullmatch(clause), _DATES.fullmatch(clause)
        if arid:
            arids += re.split(r"\s+OR\s+", arid.group(1) or arid.group(2))
        elif dates:
            start, end = (None if d == "*" else d for d in dates.groups())
        else:
            return f"Cannot parse query: {clause[:100]!r}"
    if not arids:
        return "Cannot parse query: no arid"
    return [a.lower() for a in arids], start, end


def _json(status: int, data: object) -> Reply:
    return Reply(status=status, body=json.dumps(data, ensure_ascii=False).encode())


def _int_param(request: RecordedRequest, name: str, default: int) -> int | None:
    raw = request.param(name)
    if raw is None:
        return default
    return int(raw) if raw.isdigit() else None


def _subject(path: str, query: dict[str, list[str]]) -> str:
    if path == f"{MUSICBRAINZ_PREFIX}/release-group":
        return query.get("artist", ["release-group-search"])[0]
    if path == f"{MUSICBRAINZ_PREFIX}/artist" and "query" in query:
        return "search"
    lookup = re.fullmatch(rf"{MUSICBRAINZ_PREFIX}/artist/([^/]+)", path)
    if lookup:
        return lookup.group(1)
    stats = re.fullmatch(r"/1/stats/user/([^/]+)/artists", path)
    return stats.group(1) if stats else ""


def _handler_for(server: UpstreamServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, like the real services: the client's session reuses its connection.
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle's algorithm the
        # second waits for the client's delayed ACK, 40 ms per response.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            request = server._record(self)
            if len(self.requestline) > server.max_request_line:
                reply = Reply(status=414, body=b"<html><body><h1>414 Request-URI Too Large</h1></body></html>")
            elif request.path.startswith(MUSICBRAINZ_PREFIX) and server.over_rate():
                reply = unavailable(retry_after=1)
            else:
                reply = server._scripted(request) or server.answer(request)
            if reply.body is None:  # the normal answer, late or cut short
                normal = server.answer(request)
                body = normal.body or b""
                reply = dataclasses.replace(
                    reply,
                    status=normal.status,
                    headers={**normal.headers, **reply.headers},
                    content_type=normal.content_type,
                    body=body[: len(body) // 2] if reply.truncate else body,
                )
            if reply.delay and server._stopping.wait(reply.delay):
                return
            body = reply.body or b""
            try:
                self.send_response(reply.status)
                if reply.status != 204:
                    self.send_header("Content-Type", f"{reply.content_type}; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer

        def do_POST(self) -> None:
            server._record(self)
            self.send_response(405)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the recorded requests say more, without flooding the test output

    return Handler


@contextmanager
def serve() -> Iterator[UpstreamServer]:
    server = UpstreamServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def upstream_server() -> Iterator[UpstreamServer]:
    """The replay server alone (settings untouched), for tests outside tests/catalog."""
    with serve() as server:
        yield server
