import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from musicdrops.ops import metrics
from musicdrops.ops.health import health_report


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    status, report = health_report()
    return JsonResponse(report, status=status)


@require_safe
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus's text format, for ``Authorization: Bearer $METRICS_TOKEN`` only (403 otherwise, or when unset)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = settings.METRICS_TOKEN
    if not expected or scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        return HttpResponse("A bearer token (METRICS_TOKEN) is needed.\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(metrics.registry()), content_type=CONTENT_TYPE_LATEST)
