"""Signed links to verify an address or move to one: void once the address, or (for a move) the password, changes."""

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

from musicdrops.accounts.models import User

_SALT = "musicdrops.accounts.verify-email"


@dataclass(frozen=True)
class Claim:
    user_id: int
    email: str  # the account's address when the link was sent
    new_email: str | None
    password_mark: str | None = None


def password_mark(user: User) -> str:
    """A short keyed digest of the stored password hash: it changes whenever the password does."""
    return salted_hmac(_SALT, user.password, algorithm="sha256").hexdigest()[:20]


def move_allowed(claim: Claim, user: User) -> bool:
    """A move link is good only under the password it was asked with (a link without a mark: never)."""
    return claim.password_mark is not None and constant_time_compare(claim.password_mark, password_mark(user))


def make_verification_token(user: User, *, new_email: str | None = None) -> str:
    data: dict[str, object] = {"u": user.pk, "e": user.email}
    if new_email is not None:
        data["n"] = new_email
        data["p"] = password_mark(user)
    return signing.dumps(data, salt=_SALT, compress=True)


def read_verification_token(token: str) -> Claim | None:
    """What a token was issued for, or None if it is bad or too old."""
    try:
        data = signing.loads(token, salt=_SALT, max_age=settings.EMAIL_VERIFICATION_TIMEOUT)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) or not isinstance(data.get("e"), str):
        return None
    new_email, mark = data.get("n"), data.get("p")
    return Claim(
        user_id=data["u"],
        email=data["e"],
        new_email=new_email if isinstance(new_email, str) else None,
        password_mark=mark if isinstance(mark, str) else None,
    )
