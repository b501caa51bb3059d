"""The account emails: address verification (and moves), password reset, "your address is in use"."""

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from musicdrops.accounts.models import User
from musicdrops.accounts.tokens import make_verification_token


def _send(*, to: str, subject: str, template: str, context: dict[str, object]) -> None:
    context = {"site_url": settings.SITE_URL, "subject": subject, **context}
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"emails/{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
    )
    message.attach_alternative(render_to_string(f"emails/{template}.html", context), "text/html")
    message.send()


def send_verification_email(*, user: User) -> None:
    link = settings.SITE_URL + reverse("accounts:verify_email", args=[make_verification_token(user)])
    _send(to=user.email, subject="Confirm your email address", template="verify_email", context={"link": link})


def send_password_reset_email(*, user: User) -> None:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    link = settings.SITE_URL + reverse("accounts:password_reset_confirm", args=[uid, token])
    _send(to=user.email, subject="Reset your MusicDrops password", template="password_reset", context={"link": link})


def send_email_change_email(*, user: User, email: str) -> None:
    """To the new address a user asked for: following the link moves the account there."""
    token = make_verification_token(user, new_email=email)
    link = settings.SITE_URL + reverse("accounts:verify_email", args=[token])
    context = {"link": link, "moving": True}  # says "move my account here", not "sign up"
    _send(to=email, subject="Confirm your new email address", template="verify_email", context=context)


def send_address_change_requested_email(*, user: User, new_email: str) -> None:
    """To the account's current address: a move to ``new_email`` was asked for (it needs that address's link)."""
    context: dict[str, object] = {
        "email": user.email,
        "new_email": new_email,
        "password_url": settings.SITE_URL + reverse("accounts:password_change"),
    }
    _send(
        to=user.email,
        subject="Your MusicDrops account may move to another address",
        template="address_change_requested",
        context=context,
    )


def send_address_in_use_email(*, user: User) -> None:
    """To an account's owner: someone tried to sign up with their address, or move an account to it."""
    context: dict[str, object] = {
        "email": user.email,
        "login_url": settings.SITE_URL + reverse("accounts:login"),
        "reset_url": settings.SITE_URL + reverse("accounts:password_reset"),
    }
    _send(to=user.email, subject="Your address is already on MusicDrops", template="address_in_use", context=context)
