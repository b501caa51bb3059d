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
from musicdrops.lib.tasks import enqueue_on_commit


def _may_email(kind: str, address: str) -> bool:
    return allow(f"{kind}:{address}", limit=settings.ACCOUNT_EMAILS_PER_HOUR, period=3600)


@transaction.atomic
def user_sign_up(*, email: str, password: str, time_zone: str = "UTC") -> None:
    """Create an account and queue its verification; for an address that has one, tell its owner.

    The caller answers the same either way, after about as long (a password is hashed either
    way), so sign-up tells nobody which addresses have accounts.
    """
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
    """Email an address's owner that someone tried to sign up with it, or move another account to it."""
    if owner.is_active and _may_email("in-use", owner.email):
        enqueue_on_commit(tasks.send_address_in_use_email_task, user_id=owner.pk)


def user_request_verification(*, user: User) -> bool:
    """Queue a verification email. False if the address is verified (and not suppressed) or was emailed too often.

    A suppressed address may be confirmed again: that is how its owner lifts the suppression.
    """
    if (user.email_verified and not is_suppressed(user.email)) or not _may_email("verify", user.email):
        return False
    enqueue_on_commit(tasks.send_verification_email_task, user_id=user.pk)
    return True


def user_verify_email(*, token: str) -> User | None:
    """Confirm the address in ``token`` (moving the account to it, for a move). Idempotent.

    None for a bad, stale or superseded link, or a move to an address another account took since.
    """
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
        except IntegrityError:  # another account has the address now
            return None
    else:
        User.objects.filter(pk=user.pk, email_verified_at__isnull=True).update(email_verified_at=now)
    # Its owner just showed the address works: a bounce or complaint recorded before no longer stops its email.
    suppression_lift(email=target)
    user.refresh_from_db(fields=["email", "email_verified_at"])
    return user if user.email == target else None


def password_reset_request(*, email: str) -> None:
    """Queue a reset link if the address is an active account's, confirmed.

    The caller shows the same answer either way, so the form does not tell
    strangers which addresses have accounts.
    """
    address = normalize_email(email)
    # Only to a confirmed address: an unconfirmed one may be a typo, or someone else's.
    user = User.objects.filter(email=address, is_active=True, email_verified_at__isnull=False).first()
    if user is None or not user.has_usable_password() or not _may_email("reset", address):
        return
    enqueue_on_commit(tasks.send_password_reset_email_task, user_id=user.pk)


@transaction.atomic
def user_update_settings(*, user: User, email: str, receives_drops: bool) -> str | None:
    """Save the settings form. Returns the new address asked for, if any: it becomes the account's once confirmed.

    The answer is the same whether or not another account has that address (its owner is told
    instead of a link being sent), so the form tells nobody which addresses have accounts.
    """
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
    # The address the account has now hears of it too, whichever of the above happened.
    if _may_email("move", user.email):
        enqueue_on_commit(tasks.send_address_change_requested_task, user_id=user.pk, new_email=address)
    return address


def user_delete(*, user: User) -> None:
    user.delete()
