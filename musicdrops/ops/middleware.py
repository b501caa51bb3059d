from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from musicdrops.ops.views import healthz


class HealthCheckMiddleware:
    """Answer /healthz before anything else runs.

    Probes (the platform, Docker's HEALTHCHECK, a load balancer) call it by
    IP address or plain HTTP: it must not depend on ALLOWED_HOSTS or the
    HTTPS redirect, and it should not pay for sessions or auth on every call.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == "/healthz":
            response = healthz(request)
            # CommonMiddleware, skipped here, would add it. Without it an HTTP/1.0
            # keep-alive client (a load balancer, ab) is disconnected after every answer.
            response.headers["Content-Length"] = str(len(response.content))
            return response
        return self.get_response(request)
