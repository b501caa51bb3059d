from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from musicdrops.accounts.zones import DAILY, WEEKLY, is_time_zone

DEFAULT_DELIVERY_HOUR = 8
WEEKDAYS = [(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"), (5, "Saturday"),
            (6, "Sunday")]  # fmt: skip


def normalize_email(email: str) -> str:
    return email.strip().lower()


def validate_time_zone(name: str) -> None:
    if not is_time_zone(name):
        raise ValidationError(
            "%(name)s is not a time zone we know; pick one like Europe/Berlin.", params={"name": name}
        )


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> "User":
        if not email:
            raise ValueError("A user needs an email address")
        user = self.model(email=normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("email_verified_at", timezone.now())
        return self.create_user(email, password, **extra)

    def receiving_drops(self) -> "models.QuerySet[User]":
        """People who get drops at all: active, confirmed address not suppressed, drops on.

        NOT EXISTS, not NOT IN: past ~100,000 suppressions PostgreSQL stops hashing NOT IN and rescans per row.
        """
        suppressed = Suppression.objects.filter(email=models.OuterRef("email"))
        active = self.filter(is_active=True, receives_drops=True, email_verified_at__isnull=False)
        return active.exclude(models.Exists(suppressed))

    def get_by_natural_key(self, username: str | None) -> "User":
        # Log-in by email is case-insensitive, like the uniqueness rule below.
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who follows artists; the email address, stored lower-cased so "unique" ignores case, is the login."""

    email = models.EmailField("email address", max_length=254, unique=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    receives_drops = models.BooleanField(
        "send me the daily email", default=True, help_text="One email a day with the new releases."
    )
    # The email goes out at delivery_hour:00 in time_zone, daily or on digest_weekday (drops/fanout.py).
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    delivery_hour = models.PositiveSmallIntegerField(
        default=DEFAULT_DELIVERY_HOUR, choices=[(h, f"{h:02d}:00") for h in range(24)]
    )
    digest = models.CharField(max_length=8, default=DAILY, choices=[(DAILY, "every day"), (WEEKLY, "once a week")])
    digest_weekday = models.PositiveSmallIntegerField(default=0, choices=WEEKDAYS)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(condition=models.Q(delivery_hour__lte=23), name="accounts_delivery_hour_0_23"),
            models.CheckConstraint(condition=models.Q(digest_weekday__lte=6), name="accounts_digest_weekday_0_6"),
            models.CheckConstraint(condition=models.Q(digest__in=[DAILY, WEEKLY]), name="accounts_digest_known"),
        ]
        # The send reads the zones in use every hour, and who is due in each (drops/fanout.py).
        indexes: ClassVar = [models.Index(fields=["time_zone", "delivery_hour"], name="accounts_user_delivery")]

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    def __str__(self) -> str:
        return self.email

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


class Suppression(models.Model):
    """An address we no longer email; by address, not account, so moving to another address gets email again."""

    class Reason(models.TextChoices):
        BOUNCED = "bounced", "the address bounced"
        SOFT_BOUNCES = "soft-bounces", "the address bounced again and again"
        COMPLAINED = "complained", "marked as spam"
        UNSUBSCRIBED = "unsubscribed", "unsubscribed at the email provider"
        REJECTED = "rejected", "the email provider refused the address"

    email = models.EmailField(max_length=254, unique=True)  # lower-cased, as User.email
    reason = models.CharField(max_length=16, choices=Reason.choices)
    detail = models.CharField(max_length=500, blank=True)
    provider = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.email}: {self.reason}"


class MailEvent(models.Model):
    """A provider's tracking event, applied once: replays of a webhook find it here and change nothing."""

    key = models.CharField(max_length=200, unique=True)  # provider and its event id (or a digest of the event)
    email = models.EmailField(max_length=254, db_index=True)
    event_type = models.CharField(max_length=20)
    soft = models.BooleanField(default=False)  # a temporary bounce: several in a row suppress the address
    received_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.event_type} for {self.email}"
