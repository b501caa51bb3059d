"""``{% cover release %}``: a release group's cover art over a placeholder that is there when the image isn't."""

import uuid
from typing import Any

from django import template

from musicdrops.catalog import covers

register = template.Library()

HUES = 8  # placeholder colours in site.css (.hue-0 ... .hue-7)


@register.inclusion_tag("catalog/cover.html")
def cover(release: Any, size: int = 250, shown: int = 64) -> dict[str, Any]:
    """The image at ``size`` px from the archive, shown ``shown`` px square; lazy, decorative (alt="")."""
    mbid = release.mbid if isinstance(release.mbid, uuid.UUID) else uuid.UUID(str(release.mbid))
    title = str(release.title).strip()
    return {
        "url": covers.cover_url(mbid, size=size),
        "shown": shown,
        "initial": title[:1].upper() if title[:1].isalnum() else "♪",
        "hue": mbid.int % HUES,
    }
