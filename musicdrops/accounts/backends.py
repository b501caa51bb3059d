"""An authentication backend that authenticates nobody: it refuses log-ins while they are throttled.

Listed first in AUTHENTICATION_BACKENDS, so a refused try costs no password hash (about 0.5 s of
CPU each); ModelBackend, after it, does the real work. Raising (instead of returning None, which
would let the next backend try) is what stops ``authenticate()``.
"""

from typing import Any

from django.http import HttpRequest

from musicdrops.accounts.throttle import check_login


class ThrottleBackend:
    # Not a BaseBackend: without get_user() it is never the backend a session or force_login() names.
    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        if username is not None:
            check_login(request=request, username=username)
        return None
