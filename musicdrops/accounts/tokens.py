"""Signed links for email verification.

The token names the user and the address it was sent to: once the user
changes their email, links sent to the old address stop working.
"""

from django.conf import settings
from django.core import signing

from musicdrops.accounts.models import User

_SALT = "musicdrops.accounts.verify-email"


def make_verification_token(user: User) -> str:
    return signing.dumps({"u": user.pk, "e": user.email}, salt=_SALT, compress=True)


def read_verification_token(token: str) -> tuple[int, str] | None:
    """The (user id, email) a token was issued for, or None if it is bad or too old."""
    try:
        data = signing.loads(token, salt=_SALT, max_age=settings.EMAIL_VERIFICATION_TIMEOUT)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) or not isinstance(data.get("e"), str):
        return None
    return data["u"], data["e"]
