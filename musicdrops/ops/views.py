from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from musicdrops.ops.health import health_report


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    status, report = health_report()
    return JsonResponse(report, status=status)
