"""The email provider's tracking webhook, as anymail serves it, with one promise added: never a 500."""

import functools
import logging
from collections.abc import Callable
from typing import Any

from anymail.exceptions import AnymailError
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

logger = logging.getLogger(__name__)


def webhook_guard(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """anymail's view, but a body it cannot read (not the provider's JSON, an inbound event) is a 400, not a 500."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except SuspiciousOperation:
            raise  # Django answers 400 (anymail's failed authentication and signatures)
        except (AnymailError, ImproperlyConfigured, ValueError, KeyError, TypeError, AttributeError) as error:
            logger.warning("webhook %s: unreadable body (%s: %s)", request.path, type(error).__name__, error)
            return HttpResponseBadRequest("unreadable webhook body", content_type="text/plain")

    guarded.csrf_exempt = True  # type: ignore[attr-defined]  # the provider signs or authenticates instead
    return guarded
