"""What a live view answers: the state of a watched task, and headers that no cache may keep."""

from dataclasses import asdict, dataclass
from typing import Any

from django.http import HttpResponse
from django.utils.cache import add_never_cache_headers


@dataclass(frozen=True)
class JobStatus:
    """A watched task's state, as the polling script reads it ("refresh now" and the imports alike)."""

    id: str
    state: str  # PENDING, STARTED, PROGRESS, SUCCESS, FAILURE or EXPIRED (never started)
    done: bool
    message: str
    progress: int | None  # percent, when known
    finished_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def no_store(response: HttpResponse) -> HttpResponse:
    """No cache may keep this, not even an HTTP/1.0 proxy (hence ``Pragma`` beside ``no-store``)."""
    add_never_cache_headers(response)
    response["Pragma"] = "no-cache"
    response["Vary"] = "Cookie"
    return response
