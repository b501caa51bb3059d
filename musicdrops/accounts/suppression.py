"""The suppression list, fed by the email provider's tracking webhooks; the rules are in docs/email-providers.md."""

import hashlib
import json
import logging
from typing import Any

from anymail.signals import AnymailTrackingEvent, EventType, RejectReason
from django.db import IntegrityError, transaction

from musicdrops.accounts.models import MailEvent, Suppression, normalize_email

logger = logging.getLogger(__name__)

SOFT_BOUNCES = 3
# The providers' own names for a temporary bounce, where anymail reports it as "bounced".
_SOFT_TYPES = {"SoftBounce", "Transient", "DnsError", "soft_bounce", "soft-bounce", "softBounce"}
_AT_ONCE = {
    EventType.BOUNCED: Suppression.Reason.BOUNCED,
    EventType.COMPLAINED: Suppression.Reason.COMPLAINED,
    EventType.UNSUBSCRIBED: Suppression.Reason.UNSUBSCRIBED,
}
# A refusal for one of these reasons is about the address; "other" or none may be about the message.
_REJECTED_FOR_GOOD = {
    RejectReason.INVALID, RejectReason.BOUNCED, RejectReason.SPAM, RejectReason.UNSUBSCRIBED, RejectReason.BLOCKED,
}  # fmt: skip


def is_suppressed(email: str) -> bool:
    return Suppression.objects.filter(email=normalize_email(email)).exists()


def suppression_lift(*, email: str) -> None:
    """The owner confirmed the address again: email it again (from the next slot on)."""
    Suppression.objects.filter(email=normalize_email(email)).delete()


def tracking_event_record(*, event: AnymailTrackingEvent, esp_name: str) -> str:
    """Apply one tracking event; return what it did ("suppressed", "counted", "replay", "ignored"). Idempotent."""
    if not event.recipient or not isinstance(event.recipient, str):
        return "ignored"
    email = normalize_email(event.recipient)
    soft = _is_soft(event)
    try:
        with transaction.atomic():
            MailEvent.objects.create(key=_key(event, esp_name), email=email, event_type=event.event_type, soft=soft)
            reason = _reason(event, soft=soft, email=email)
            if reason is None:
                return "counted" if soft else "ignored"
            _, created = Suppression.objects.get_or_create(
                email=email,
                defaults={"reason": reason, "detail": _detail(event), "provider": esp_name[:32]},
            )
    except IntegrityError:
        return "replay"
    if created:
        logger.warning("suppressed %s: %s (%s: %s)", email, reason, esp_name, _detail(event))
    return "suppressed"


def _reason(event: AnymailTrackingEvent, *, soft: bool, email: str) -> str | None:
    if soft:
        recent = MailEvent.objects.filter(email=email).order_by("-received_at", "-pk")
        streak = 0
        for was_soft, event_type in recent.values_list("soft", "event_type")[: SOFT_BOUNCES * 4]:
            if event_type == EventType.DELIVERED:
                break
            streak += was_soft
        return Suppression.Reason.SOFT_BOUNCES if streak >= SOFT_BOUNCES else None
    if event.event_type in _AT_ONCE:
        return _AT_ONCE[event.event_type]
    if event.event_type == EventType.REJECTED and event.reject_reason in _REJECTED_FOR_GOOD:
        return Suppression.Reason.REJECTED
    return None


def _is_soft(event: AnymailTrackingEvent) -> bool:
    if event.event_type == EventType.DEFERRED:
        return True
    if event.event_type != EventType.BOUNCED:
        return False
    raw = event.esp_event
    kind = raw.get("Type") or raw.get("type") or raw.get("event") if isinstance(raw, dict) else None
    return isinstance(kind, str) and kind in _SOFT_TYPES


def _key(event: AnymailTrackingEvent, esp_name: str) -> str:
    if event.event_id:
        return f"{esp_name}:{event.event_id}"[:200]
    try:
        raw = json.dumps(event.esp_event, sort_keys=True, default=str)
    except (TypeError, ValueError):
        raw = repr(event.esp_event)
    return f"{esp_name}:sha256:{hashlib.sha256(raw.encode()).hexdigest()}"


def _detail(event: AnymailTrackingEvent) -> str:
    return str(event.mta_response or event.description or event.reject_reason or "")[:500]


def on_tracking(sender: Any, event: AnymailTrackingEvent, esp_name: str, **_: Any) -> None:
    """anymail's tracking signal (connected in apps.py)."""
    outcome = tracking_event_record(event=event, esp_name=esp_name)
    logger.info("%s tracking event %s for %s: %s", esp_name, event.event_type, event.recipient, outcome)
