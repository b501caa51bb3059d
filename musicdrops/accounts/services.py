"""Everything that changes an account. Views and commands call these."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from musicdrops.accounts import tasks
from musicdrops.accounts.models import User, normalize_email
from musicdrops.accounts.tokens import read_verification_token
from musicdrops.lib.tasks import enqueue_on_commit
from musicdrops.lib.throttle import allow


def _may_email(kind: str, address: str) -> bool:
    return allow(f"{kind}:{address}", limit=settings.ACCOUNT_EMAILS_PER_HOUR, period=3600)


@transaction.atomic
def user_sign_up(*, email: str, password: str) -> User:
    user = User.objects.create_user(email=email, password=password)
    user_request_verification(user=user)
    return user


def user_request_verification(*, user: User) -> bool:
    """Queue a verification email. False if the address is verified or was emailed too often."""
    if user.email_verified or not _may_email("verify", user.email):
        return False
    enqueue_on_commit(tasks.send_verification_email_task, user_id=user.pk)
    return True


def user_verify_email(*, token: str) -> User | None:
    """Mark the address in ``token`` verified. Idempotent; None for a bad, stale or superseded link."""
    claim = read_verification_token(token)
    if claim is None:
        return None
    user_id, email = claim
    user = User.objects.filter(pk=user_id, email=email, is_active=True).first()
    if user is None:
        return None
    # Conditional update: a double click or a concurrent request sets it once.
    User.objects.filter(pk=user.pk, email_verified_at__isnull=True).update(email_verified_at=timezone.now())
    user.refresh_from_db(fields=["email_verified_at"])
    return user


def password_reset_request(*, email: str) -> None:
    """Queue a reset link if the address belongs to an active account.

    The caller shows the same answer either way, so the form does not tell
    strangers which addresses have accounts.
    """
    address = normalize_email(email)
    user = User.objects.filter(email=address, is_active=True).first()
    if user is None or not user.has_usable_password() or not _may_email("reset", address):
        return
    enqueue_on_commit(tasks.send_password_reset_email_task, user_id=user.pk)


@transaction.atomic
def user_update_settings(*, user: User, email: str, receives_drops: bool) -> bool:
    """Save the settings form. Returns True when the email changed and needs verifying again."""
    address = normalize_email(email)
    email_changed = address != user.email
    user.receives_drops = receives_drops
    if email_changed:
        user.email = address
        user.email_verified_at = None
    user.save(update_fields=["email", "email_verified_at", "receives_drops"])
    if email_changed:
        user_request_verification(user=user)
    return email_changed


def user_delete(*, user: User) -> None:
    user.delete()
