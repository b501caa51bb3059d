"""Refuses throttled log-ins before ModelBackend, next in AUTHENTICATION_BACKENDS, spends a password hash on them."""

from typing import Any

from django.http import HttpRequest

from musicdrops.accounts.throttle import check_login


class ThrottleBackend:
    # Not a BaseBackend: without get_user() it is never the backend a session or force_login() names.
    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        if username is not None:
            check_login(request=request, username=username)  # raises: None would let the next backend try
        return None
