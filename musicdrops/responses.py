"""What our own answers tell caches, for every view that shows something live."""

from django.http import HttpResponse
from django.utils.cache import add_never_cache_headers


def no_store(response: HttpResponse) -> HttpResponse:
    """No cache may keep this, not even an HTTP/1.0 proxy (hence ``Pragma`` beside ``no-store``)."""
    add_never_cache_headers(response)
    response["Pragma"] = "no-cache"
    response["Vary"] = "Cookie"
    return response
