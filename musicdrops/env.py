"""Typed helpers that read settings from the environment: a bad value fails loudly at start-up."""

import os
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str = "") -> str:
    # Empty counts as unset: platforms (and app.json forms) leave optional variables blank.
    return os.environ.get(name) or default


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# EMAIL_URL schemes of email providers, and django-anymail's backend for each (URL forms: docs/email-providers.md).
PROVIDERS = {
    "postmark": "anymail.backends.postmark.EmailBackend",
    "ses": "anymail.backends.amazon_ses.EmailBackend",
    "mailgun": "anymail.backends.mailgun.EmailBackend",  # mailgun://API_KEY@SENDER_DOMAIN
    "sendgrid": "anymail.backends.sendgrid.EmailBackend",
    "brevo": "anymail.backends.brevo.EmailBackend",
    "resend": "anymail.backends.resend.EmailBackend",
}


def email_provider(url: str) -> str:
    """The provider an ``EMAIL_URL`` names ("postmark", ...), or "" for SMTP, the console and the like."""
    scheme = urlsplit(url).scheme.lower()
    return scheme if scheme in PROVIDERS else ""


def mailer_config(url: str) -> dict[str, Any]:
    """Translate an ``EMAIL_URL`` (smtp, smtps, console, file, locmem or a provider) into a ``MAILERS`` entry."""
    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    scheme = parts.scheme.lower()
    backends = "django.core.mail.backends."
    if scheme == "console":
        return {"BACKEND": "musicdrops.console_mail.ConsoleBackend"}
    if scheme == "file":
        return {"BACKEND": backends + "filebased.EmailBackend", "OPTIONS": {"file_path": unquote(parts.path)}}
    if scheme == "locmem":
        return {"BACKEND": backends + "locmem.EmailBackend"}
    if scheme in PROVIDERS:
        return _provider_config(scheme, parts, query)
    if scheme not in {"smtp", "smtps"}:
        raise ImproperlyConfigured(
            f"EMAIL_URL scheme {parts.scheme!r} is not one of smtp, smtps, console, file, locmem, "
            + ", ".join(PROVIDERS)
        )
    if not parts.hostname:
        raise ImproperlyConfigured("EMAIL_URL needs a host, e.g. smtp://127.0.0.1:1025")
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured("EMAIL_URL has an invalid port") from None
    implicit_tls = scheme == "smtps"
    return {
        "BACKEND": backends + "smtp.EmailBackend",
        "OPTIONS": {
            "host": parts.hostname,
            "port": port or (465 if implicit_tls else 25),
            "username": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
            "use_ssl": implicit_tls,
            "use_tls": not implicit_tls and query.get("tls", "").lower() in _TRUE,
            "timeout": 20,
        },
    }


def _provider_config(scheme: str, parts: Any, query: dict[str, str]) -> dict[str, Any]:
    """A provider's credentials from the URL; anything the URL leaves out, anymail reads from ANYMAIL settings."""
    user, host = unquote(parts.username or ""), parts.hostname or ""
    # postmark://TOKEN reads as a host name, which urlsplit lower-cases: the token as written, from the netloc.
    secret = user or unquote(parts.netloc.rpartition("@")[2])
    options: dict[str, Any] = {}
    if scheme == "postmark":
        options["server_token"] = secret
    elif scheme == "ses":
        session = {"region_name": host} if host else {}
        if user:
            session |= {"aws_access_key_id": user, "aws_secret_access_key": unquote(parts.password or "")}
        options["session_params"] = session
    elif scheme == "mailgun":
        options |= {"api_key": user, "sender_domain": host}
    else:
        options["api_key"] = secret
    if query.get("api_url"):
        options["api_url"] = query["api_url"]
    return {"BACKEND": PROVIDERS[scheme], "OPTIONS": {k: v for k, v in options.items() if v}}
