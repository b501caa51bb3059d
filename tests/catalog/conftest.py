from collections.abc import Iterator

import pytest

from tests.catalog.import_sources import sources  # noqa: F401 (the fixture: Last.fm and Deezer too)
from tests.catalog.upstream import UpstreamServer, serve


@pytest.fixture
def upstream(settings) -> Iterator[UpstreamServer]:
    """The replay server, with the settings pointing at it (so ``default_client()`` talks to it).

    The shared MusicBrainz budget is raised to 1000 requests/s here: tests of
    code that syncs many artists should not wait a second per request. The
    limiter itself is tested in test_ratelimit.py, and with real processes in
    tests/integration/test_musicbrainz_rate_limit.py.
    """
    with serve() as server:
        settings.MUSICBRAINZ_URL = server.musicbrainz_url
        settings.LISTENBRAINZ_URL = server.listenbrainz_url
        settings.MUSICBRAINZ_REQUESTS_PER_SECOND = 1000.0
        yield server
