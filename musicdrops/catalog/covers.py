"""Cover Art Archive URLs, which the reader's browser loads (a placeholder shows without one): we never fetch."""

from urllib.parse import urlsplit

from django.conf import settings

SIZES = (250, 500, 1200)
# The archive answers /release-group/<mbid>/front-250 with a redirect to archive.org's storage.
_ARCHIVE_HOSTS = ("https://archive.org", "https://*.archive.org")


def cover_url(mbid: object, *, size: int = 250) -> str:
    if not settings.COVER_ART_URL:
        return ""
    if size not in SIZES:
        raise ValueError(f"the archive has no {size} px thumbnails; it has {SIZES}")
    return f"{settings.COVER_ART_URL}/release-group/{mbid}/front-{size}"


def cover_art_sources(base_url: str) -> list[str]:
    """The CSP img-src sources that ``base_url``'s images come from (for settings.py)."""
    if not base_url:
        return []
    parts = urlsplit(base_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return [origin, *_ARCHIVE_HOSTS] if parts.hostname == "coverartarchive.org" else [origin]
