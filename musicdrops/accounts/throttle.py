"""How often one account, or one client address, may try to log in, reset a password or ask for a link."""

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from musicdrops.accounts.counters import Throttled, blocked_for, clear, hit
from musicdrops.accounts.models import normalize_email


def client_address(request: HttpRequest) -> str:
    # Behind Heroku's router, X-Forwarded-For's last hop is the one the client cannot forge; elsewhere it is theirs.
    if settings.SECURE_PROXY_SSL_HEADER:
        last = request.headers.get("x-forwarded-for", "").rsplit(",", 1)[-1].strip()
        if last:
            return str(last[:64])
    return str(request.META.get("REMOTE_ADDR", ""))


def _keys(action: str, account: str, request: HttpRequest | None) -> list[str]:
    # Hashed: the key has a bounded length whatever was typed, and no address is kept in clear.
    keys = [f"{action}:account:{hashlib.sha256(normalize_email(account).encode()).hexdigest()[:32]}"]
    if request is not None:
        keys.append(f"{action}:address:{client_address(request)}")
    return keys


def check_login(*, request: HttpRequest | None, username: str) -> None:
    seconds = blocked_for(*_keys("login", username, request))
    if seconds:
        raise Throttled(seconds)


def limit_request(*, request: HttpRequest, action: str, account: str, per_account: int) -> None:
    """Count one request for ``account``, an account's or not (no enumeration); raise ``Throttled`` once used up."""
    keys = _keys(action, account, request)
    seconds = blocked_for(*keys)
    if seconds:
        raise Throttled(seconds)
    hit(keys[0], limit=per_account, period=3600)
    hit(keys[1], limit=settings.ACCOUNT_REQUESTS_PER_ADDRESS_PER_HOUR, period=3600)


@receiver(user_login_failed)
def _count_failure(sender: object, credentials: dict[str, Any], request: HttpRequest | None = None, **_: Any) -> None:
    keys = _keys("login", str(credentials.get("username") or ""), request)
    limits = [settings.LOGIN_FAILURES_PER_ACCOUNT, settings.LOGIN_FAILURES_PER_ADDRESS]
    for key, limit in zip(keys, limits, strict=False):
        hit(key, limit=limit, period=settings.LOGIN_LOCKOUT_SECONDS)


@receiver(user_logged_in)
def _forget_failures(sender: object, request: HttpRequest | None, user: Any, **_: Any) -> None:
    # The account's count only: logging in to one's own account must not reset an address's count.
    clear(_keys("login", user.get_username(), None)[0])
