"""Django's login_required, and a form sent after the session ended (logged out in another tab) says so."""

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required as django_login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme

SESSION_ENDED = "You were logged out, so that change was not saved. Log in and make it again."

View = Callable[..., HttpResponse]


def login_required(view: View) -> View:
    protected = django_login_required(view)

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST" and not request.user.is_authenticated:
            # Back to the page the form was on: the form's own address may answer only POSTs.
            messages.warning(request, SESSION_ENDED)
            page = _page_sent_from(request)
            return redirect_to_login(page) if page else redirect(settings.LOGIN_URL)
        return protected(request, *args, **kwargs)

    return wrapper


def _page_sent_from(request: HttpRequest) -> str:
    referer = request.headers.get("Referer", "")
    if not url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return ""
    parts = urlsplit(referer)
    return parts.path + (f"?{parts.query}" if parts.query else "")
