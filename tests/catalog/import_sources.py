"""Last.fm and Deezer beside MusicBrainz on the replay server (tests/catalog/upstream.py): real HTTP on loopback.

Last.fm answers under ``lastfm_url`` (``user.gettopartists`` only), Deezer under ``deezer_url``
(``/user/ID/artists``), in the shapes /work/shared/FACTS.md describes: Last.fm's play counts as strings,
its errors as ``{"error": N, "message"}`` (HTTP 404 for an unknown user, 403 for a bad key), Deezer's
errors in a 200's body. Script misbehaviour by path prefix: ``server.script("/lastfm", reply)``,
``server.script("/deezer/user/42", reply)``.
"""

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.catalog.upstream import RecordedRequest, Reply, UpstreamServer

LASTFM_PREFIX = "/lastfm/2.0/"
DEEZER_PREFIX = "/deezer"
API_KEY = "test-api-key-0123456789abcdef"
PERIODS = {"overall", "7day", "1month", "3month", "6month", "12month"}


def lastfm_artist(name: str, plays: int | str, *, mbid: str = "") -> dict[str, Any]:
    """A top-artists entry as Last.fm sends it: the play count a string, the MBID often empty."""
    return {
        "name": name,
        "playcount": str(plays),
        "mbid": mbid,
        "url": f"https://www.last.fm/music/{name.replace(' ', '+')}",
        "streamable": "0",
        "image": [{"#text": "", "size": "small"}],
        "@attr": {"rank": "0"},
    }


def deezer_artist(name: str, number: int) -> dict[str, Any]:
    return {
        "id": number,
        "name": name,
        "link": f"https://www.deezer.com/artist/{number}",
        "picture": f"https://api.deezer.com/artist/{number}/image",
        "nb_fan": 1000 + number,
        "radio": True,
        "type": "artist",
    }


def lastfm_error(code: int, message: str, *, status: int = 200) -> Reply:
    return Reply(status=status, body=json.dumps({"error": code, "message": message}).encode())


def deezer_error(code: int, message: str, kind: str = "DataException") -> Reply:
    return Reply(body=json.dumps({"error": {"type": kind, "message": message, "code": code}}).encode())


class SourcesServer(UpstreamServer):
    """The replay server, with Last.fm users' top artists and Deezer profiles' favourites too."""

    def __init__(self) -> None:
        self.lastfm_users: dict[str, list[dict[str, Any]]] = {}
        self.deezer_profiles: dict[str, list[dict[str, Any]] | None] = {}  # None: a private profile
        super().__init__()

    @property
    def lastfm_url(self) -> str:
        return self.url + LASTFM_PREFIX

    @property
    def deezer_url(self) -> str:
        return self.url + DEEZER_PREFIX

    def answer(self, request: RecordedRequest) -> Reply:
        if request.path == LASTFM_PREFIX:
            return self._lastfm(request)
        if request.path.startswith(DEEZER_PREFIX + "/"):
            return self._deezer(request, request.path[len(DEEZER_PREFIX) :])
        return super().answer(request)

    def _lastfm(self, request: RecordedRequest) -> Reply:
        if request.param("api_key") != API_KEY:
            return lastfm_error(10, "Invalid API key - You must be granted a valid key by last.fm", status=403)
        limit, page = request.param("limit") or "50", request.param("page") or "1"
        if request.param("method") != "user.gettopartists" or not (limit.isdigit() and page.isdigit()):
            return lastfm_error(6, "Invalid parameters", status=400)
        if request.param("period") not in PERIODS or request.param("format") != "json":
            return lastfm_error(6, "Invalid parameters", status=400)
        user = request.param("user") or ""
        with self._lock:
            artists = self.lastfm_users.get(user)
        if artists is None:
            return lastfm_error(6, "User not found", status=404)
        size, number = min(max(int(limit), 1), 1000), max(int(page), 1)
        pages = max(1, -(-len(artists) // size))
        attributes = {
            "user": user,
            "totalPages": str(pages),
            "page": str(number),
            "perPage": str(size),
            "total": str(len(artists)),
        }
        body = {"topartists": {"artist": artists[(number - 1) * size : number * size], "@attr": attributes}}
        return Reply(body=json.dumps(body, ensure_ascii=False).encode())

    def _deezer(self, request: RecordedRequest, path: str) -> Reply:
        parts = path.strip("/").split("/")
        index, limit = request.param("index") or "0", request.param("limit") or "25"
        if len(parts) != 3 or parts[0] != "user" or parts[2] != "artists":
            return deezer_error(800, "no data")
        if not (index.isdigit() and limit.isdigit()):
            return deezer_error(501, "Invalid query", "ParameterException")
        with self._lock:
            known = parts[1] in self.deezer_profiles
            artists = self.deezer_profiles.get(parts[1])
        if not known or artists is None:
            return deezer_error(800, "no data")
        start, size = int(index), min(max(int(limit), 1), 2000)
        body: dict[str, Any] = {"data": artists[start : start + size], "total": len(artists)}
        if start + size < len(artists):
            body["next"] = f"{self.deezer_url}/user/{parts[1]}/artists?index={start + size}&limit={size}"
        if start > 0:
            body["prev"] = f"{self.deezer_url}/user/{parts[1]}/artists?index={max(0, start - size)}&limit={size}"
        return Reply(body=json.dumps(body, ensure_ascii=False).encode())


@pytest.fixture
def sources(settings) -> Iterator[SourcesServer]:
    """The replay server with every setting pointing at it (MusicBrainz, ListenBrainz, Last.fm and its key, Deezer)."""
    server = SourcesServer()
    server.start()
    try:
        settings.MUSICBRAINZ_URL = server.musicbrainz_url
        settings.LISTENBRAINZ_URL = server.listenbrainz_url
        settings.LASTFM_URL = server.lastfm_url
        settings.LASTFM_API_KEY = API_KEY
        settings.DEEZER_URL = server.deezer_url
        settings.MUSICBRAINZ_REQUESTS_PER_SECOND = 1000.0
        yield server
    finally:
        server.stop()
