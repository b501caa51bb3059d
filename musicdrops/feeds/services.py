from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.feeds.models import FeedToken, new_token


def feed_token_for(*, user: User) -> str:
    token, _ = FeedToken.objects.get_or_create(user=user)
    return token.token


def feed_token_reset(*, user: User) -> str:
    """A new secret: every feed URL given out before stops working at once."""
    token, created = FeedToken.objects.get_or_create(user=user)
    if not created:
        token.token = new_token()
        token.created_at = timezone.now()
        token.save(update_fields=["token", "created_at"])
    return token.token


def feed_user(*, token: str) -> User | None:
    found = FeedToken.objects.filter(token=token, user__is_active=True).select_related("user").first()
    return found.user if found else None
