from smtplib import SMTPException
from typing import Any

from celery import shared_task
from django.contrib.sessions.models import Session
from django.utils import timezone

from musicdrops.accounts import emails
from musicdrops.accounts.models import User

# Tasks that send mail: a flaky mail server is retried with growing pauses; unsent after about an hour, it fails.
MAIL_RETRIES: dict[str, Any] = {
    "autoretry_for": (SMTPException, OSError),
    "retry_backoff": 10,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(**MAIL_RETRIES)
def send_verification_email_task(user_id: int) -> None:
    """Email the user a link that confirms their address.

    Safe to run twice: it does nothing once the address is verified, and a
    second link is as valid as the first. Sign-up and "resend" are throttled
    per address, which bounds how many can be sent.
    """
    user = User.objects.filter(pk=user_id, is_active=True, email_verified_at__isnull=True).first()
    if user is not None:
        emails.send_verification_email(user=user)


@shared_task(**MAIL_RETRIES)
def send_password_reset_email_task(user_id: int) -> None:
    """Email the user a password-reset link.

    Safe to run twice: each link is valid until the password changes, after
    which every link is void. Requests are throttled per address.
    """
    # Only to a confirmed address (checked again here: the request was queued a moment ago).
    user = User.objects.filter(pk=user_id, is_active=True, email_verified_at__isnull=False).first()
    if user is not None and user.has_usable_password():
        emails.send_password_reset_email(user=user)


@shared_task(**MAIL_RETRIES)
def send_email_change_email_task(user_id: int, email: str) -> None:
    """Email a link to the new address a user asked for; following it moves the account there.

    Safe to run twice: the links are alike, and once one is followed the account's address has
    changed, which voids them all. Requests are throttled per address.
    """
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is not None and user.email != email:
        emails.send_email_change_email(user=user, email=email)


@shared_task(**MAIL_RETRIES)
def send_address_change_requested_task(user_id: int, new_email: str) -> None:
    """Tell the account's address that someone asked to move the account to ``new_email``.

    Safe to run twice: a second notice says the same. Throttled per address by the caller.
    """
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is not None and user.email != new_email:
        emails.send_address_change_requested_email(user=user, new_email=new_email)


@shared_task(**MAIL_RETRIES)
def send_address_in_use_email_task(user_id: int) -> None:
    """Tell an account's owner that someone tried to sign up with their address, or move an account to it.

    Safe to run twice: a second copy says the same thing; the callers throttle it per address.
    """
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is not None:
        emails.send_address_in_use_email(user=user)


@shared_task
def clear_expired_sessions_task() -> int:
    """Delete expired login sessions. Safe to run twice or concurrently: a delete of what is gone is a no-op."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted
