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
    """Email the user a link that confirms their address. Safe twice: a no-op once verified; any link is valid."""
    user = User.objects.filter(pk=user_id, is_active=True, email_verified_at__isnull=True).first()
    if user is not None:
        emails.send_verification_email(user=user)


@shared_task(**MAIL_RETRIES)
def send_password_reset_email_task(user_id: int) -> None:
    """Email the user a password-reset link. Safe twice: every link is valid until the password changes."""
    # Only to a confirmed address (checked again here: the request was queued a moment ago).
    user = User.objects.filter(pk=user_id, is_active=True, email_verified_at__isnull=False).first()
    if user is not None and user.has_usable_password():
        emails.send_password_reset_email(user=user)


@shared_task(**MAIL_RETRIES)
def send_email_change_email_task(user_id: int, email: str) -> None:
    """Email the new address a link that moves the account there. Safe twice: following one voids them all."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is not None and user.email != email:
        emails.send_email_change_email(user=user, email=email)


@shared_task(**MAIL_RETRIES)
def send_address_change_requested_task(user_id: int, new_email: str) -> None:
    """Tell the account's address that someone asked to move it to ``new_email``. Safe twice: a repeat says the same."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is not None and user.email != new_email:
        emails.send_address_change_requested_email(user=user, new_email=new_email)


@shared_task(**MAIL_RETRIES)
def send_address_in_use_email_task(user_id: int) -> None:
    """Tell an owner that someone tried to use their address for another account. Safe twice: a repeat says the same."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is not None:
        emails.send_address_in_use_email(user=user)


@shared_task
def clear_expired_sessions_task() -> int:
    """Delete expired login sessions. Safe to run twice or concurrently: a delete of what is gone is a no-op."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted
