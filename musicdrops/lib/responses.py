"""What our own answers tell caches, for every view that shows something live."""

from django.http import HttpResponse
from django.utils.cache import add_never_cache_headers


def no_store(response: HttpResponse) -> HttpResponse:
    """No cache may keep this: not the browser, not a proxy, not a CDN.

    ``no-store`` is the rule; ``no-cache``, ``max-age=0``, ``private``,
    ``Expires`` and ``Pragma`` are what older HTTP/1.0 caches and proxies
    understand. Each poll URL also carries a fresh nonce (see task-status.js),
    so even a cache that ignores all of these has nothing to match it against.
    """
    add_never_cache_headers(response)
    response["Pragma"] = "no-cache"
    response["Vary"] = "Cookie"
    return response
