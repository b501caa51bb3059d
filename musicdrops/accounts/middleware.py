from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from musicdrops.accounts.counters import Throttled


class ThrottledMiddleware:
    """Answers ``Throttled`` from any view (log-in, the admin's too, reset, new link) with the 429 page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, Throttled):
            return None
        minutes = max(1, -(-exception.seconds // 60))
        response = render(request, "accounts/throttled.html", {"minutes": minutes}, status=429)
        response["Retry-After"] = str(exception.seconds)
        return response
