import re
import uuid
from collections.abc import Callable
from importlib import import_module

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from musicdrops.jobs import views

# The URL of jobs:status (musicdrops/jobs/urls.py); anything else goes through the whole stack.
_POLL = re.compile(r"/jobs/(?P<job_id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/status/")


class StatusPollMiddleware:
    """Answer task-status polls right after SecurityMiddleware, skipping the rest of the stack.

    Pages poll every few seconds, so each poll should cost as little as a
    health probe. A poll needs only the session (the view checks it the way
    django.contrib.auth does): no CSRF (it is a GET), no messages, no CSP or
    frame options (it is JSON). The host is still validated, and
    SecurityMiddleware, before this one, still redirects to HTTPS and adds
    its headers. The same view serves the URL when this middleware is absent.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.session_store = import_module(settings.SESSION_ENGINE).SessionStore

    def __call__(self, request: HttpRequest) -> HttpResponse:
        match = _POLL.fullmatch(request.path_info)
        if match is None or request.method != "GET":
            return self.get_response(request)
        request.get_host()  # ALLOWED_HOSTS, as the rest of the stack would check it (DisallowedHost: a 400)
        request.session = self.session_store(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
        response = views.status(request, uuid.UUID(match["job_id"]))
        # As CommonMiddleware would: keep-alive needs it (HTTP/1.0 clients are disconnected otherwise).
        response.headers["Content-Length"] = str(len(response.content))
        return response
