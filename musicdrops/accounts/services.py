"""Everything that changes an account. Views and commands call these."""

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from musicdrops.accounts import tasks
from musicdrops.accounts.counters import allow
from musicdrops.accounts.models import User, normalize_email
from musicdrops.accounts.suppression import is_suppressed, suppression_lift
from musicdrops.accounts.tokens import move_allowed, read_verification_token
from musicdrops.celery import enqueue_on_commit


def _may_email(kind: str, address: str) -> bool:
    return allow(f"{kind}:{address}", limit=settings.ACCOUNT_EMAILS_PER_HOUR, period=3600)


@transaction.atomic
def user_sign_up(*, email: str, password: str, time_zone: str = "UTC") -> None:
    """Create an account and verify it, or tell the address's owner: alike and as slow, so nobody learns who has one."""
    address = normalize_email(email)
    owner = User.objects.filter(email=address).first()
    if owner is not None:
        make_password(password)  # the time a new account's hash takes
        _tell_owner(owner)
        return
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=address, password=password, time_zone=time_zone)
    except IntegrityError:  # the same address signed up a moment ago: that one stands
        return
    user_request_verification(user=user)


def _tell_owner(owner: User) -> None:
    if owner.is_active and _may_email("in-use", owner.email):
        enqueue_on_commit(tasks.send_address_in_use_email_task, user_id=owner.pk)


def user_request_verification(*, user: User) -> bool:
    """Queue a verification email; False if verified (unless suppressed: confirming lifts it) or emailed too often."""
    if (user.email_verified and not is_suppressed(user.email)) or not _may_email("verify", user.email):
        return False
    enqueue_on_commit(tasks.send_verification_email_task, user_id=user.pk)
    return True


def user_verify_email(*, token: str) -> User | None:
    """Confirm the address in ``token`` (moving the account, for a move); idempotent. None for a link no longer good."""
    claim = read_verification_token(token)
    if claim is None:
        return None
    target = claim.new_email or claim.email
    user = User.objects.filter(pk=claim.user_id, email__in={claim.email, target}, is_active=True).first()
    if user is None:
        return None
    if claim.new_email is not None and not move_allowed(claim, user):
        return None  # the password changed since the move was asked for
    now = timezone.now()
    # Conditional updates: a double click or a concurrent request changes the row once.
    if user.email != target:
        try:
            with transaction.atomic():
                User.objects.filter(pk=user.pk, email=claim.email).update(email=target, email_verified_at=now)
        except IntegrityError:
            return None
    else:
        User.objects.filter(pk=user.pk, email_verified_at__isnull=True).update(email_verified_at=now)
    # Its owner just showed the address works: a bounce or complaint recorded before no longer stops its email.
    suppression_lift(email=target)
    user.refresh_from_db(fields=["email", "email_verified_at"])
    return user if user.email == target else None


def password_reset_request(*, email: str) -> None:
    """Queue a reset link if the address is an active account's, confirmed; the caller answers alike either way."""
    address = normalize_email(email)
    # Only to a confirmed address: an unconfirmed one may be a typo, or someone else's.
    user = User.objects.filter(email=address, is_active=True, email_verified_at__isnull=False).first()
    if user is None or not user.has_usable_password() or not _may_email("reset", address):
        return
    enqueue_on_commit(tasks.send_password_reset_email_task, user_id=user.pk)


@transaction.atomic
def user_update_settings(*, user: User, email: str, receives_drops: bool) -> str | None:
    """Save the settings form; return the new address (the account's once confirmed), the same if it is taken."""
    address = normalize_email(email)
    user.receives_drops = receives_drops
    user.save(update_fields=["receives_drops"])
    if address == user.email:
        return None
    owner = User.objects.filter(email=address).first()
    if owner is not None:
        _tell_owner(owner)
    elif _may_email("verify", address):
        enqueue_on_commit(tasks.send_email_change_email_task, user_id=user.pk, email=address)
    if _may_email("move", user.email):
        enqueue_on_commit(tasks.send_address_change_requested_task, user_id=user.pk, new_email=address)
    return address


def user_delete(*, user: User) -> None:
    user.delete()
