"""Demo data for `make run`, screenshots and benchmarks."""

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from musicdrops.accounts.models import User, normalize_email

DEMO_USER_DOMAIN = "demo.musicdrops.local"


def demo_email(number: int) -> str:
    return f"listener{number:05d}@{DEMO_USER_DOMAIN}"


@transaction.atomic
def demo_seed(*, users: int, demo_email_address: str, demo_password: str) -> int:
    """Create the demo login and ``users`` verified listeners. Idempotent; returns how many users are new."""
    now = timezone.now()
    address = normalize_email(demo_email_address)
    created = 0
    if not User.objects.filter(email=address).exists():
        User.objects.create_user(address, demo_password, email_verified_at=now)
        created += 1
    # One hash for every listener: hashing 20,000 passwords would take minutes.
    password = make_password(demo_password)
    wanted = [demo_email(n) for n in range(1, users + 1)]
    existing = set(User.objects.filter(email__in=wanted).values_list("email", flat=True))
    new_users = [
        User(email=email, password=password, email_verified_at=now, date_joined=now)
        for email in wanted
        if email not in existing
    ]
    User.objects.bulk_create(new_users, batch_size=2000)
    return created + len(new_users)
