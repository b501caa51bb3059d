"""Artists, their release groups, who follows whom, and what kinds of release each person wants."""

import datetime as dt
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from musicdrops.catalog.musicbrainz import artist_facts, life_years


class DatePrecision(models.TextChoices):
    DAY = "day", "day"
    MONTH = "month", "month"
    YEAR = "year", "year"
    UNKNOWN = "unknown", "unknown"


KIND_CHOICES = [
    ("album", "Album"),
    ("ep", "EP"),
    ("single", "Single"),
    ("live", "Live"),
    ("compilation", "Compilation"),
    ("remix", "Remix"),
    ("other", "Other"),
]


EARLIEST = dt.datetime(1, 1, 1, tzinfo=dt.UTC)


def null_first(field: str) -> Coalesce:
    """A date-time field with null (never, or at once) as the earliest moment: what the catalogue's indexes hold."""
    return Coalesce(field, Value(EARLIEST))


class Artist(models.Model):
    mbid = models.UUIDField("MusicBrainz id", unique=True)
    # Not issued by MusicBrainz (the demo's: uuid5 in a namespace of ours), so never asked about: `make run` offline
    # stays quiet, and MusicBrainz's shared budget is not spent on them. A column, not a pattern on the MBID: the
    # planner counts a column's values, but cannot tell how many MBIDs a pattern matches, and its plans flipped.
    made_up = models.BooleanField(default=False, editable=False)
    name = models.CharField(max_length=500)
    sort_name = models.CharField(max_length=500, blank=True)
    disambiguation = models.CharField(max_length=500, blank=True)
    artist_type = models.CharField("type", max_length=32, blank=True)
    country = models.CharField(max_length=2, blank=True)
    area = models.CharField(max_length=200, blank=True)
    begin = models.CharField("born or formed", max_length=10, blank=True)  # "1994", "1975-06", "1952-01-17"
    end = models.CharField("died or dissolved", max_length=10, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    synced_at = models.DateTimeField(null=True, blank=True)
    # A lease: whoever set it is fetching this artist until then, and other syncs skip it.
    sync_leased_until = models.DateTimeField(null=True, blank=True)
    # When the near and far windows' batched searches are next due (null: at once); a search in flight leases it.
    search_due_at = models.DateTimeField(null=True, blank=True)
    far_search_due_at = models.DateTimeField(null=True, blank=True)
    searched_at = models.DateTimeField(null=True, blank=True)
    # A search saw something only the browse can settle (a possible merge, a release that left the window).
    browse_wanted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # In the order the sync and the searches read them (never first, then the most overdue), null as the earliest
        # moment: "due before X" is then a range PostgreSQL reads from the index's start and stops at the batch, or at
        # once when nothing is due. A column with "null or before X" would be a filter on every entry, not a range.
        indexes: ClassVar = [
            models.Index(null_first("synced_at"), "id", name="catalog_artist_synced_at"),
            # The searches claim only browsed artists: an import's never-synced ones (due at once) would sit at the
            # head of these, and each claim would pass over them all.
            models.Index(
                null_first("search_due_at"),
                "id",
                name="catalog_artist_search_due",
                condition=Q(synced_at__isnull=False),
            ),
            models.Index(
                null_first("far_search_due_at"),
                "id",
                name="catalog_artist_far_due",
                condition=Q(synced_at__isnull=False),
            ),
            # The urgent browses only (never synced, or wanted by a search), in their order.
            models.Index(
                null_first("browse_wanted_at"),
                "id",
                name="catalog_artist_urgent",
                condition=Q(synced_at__isnull=True) | Q(browse_wanted_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.disambiguation})" if self.disambiguation else self.name

    @property
    def years(self) -> str:
        """ "1994-", "1952-2023" or "" (with an en dash): the years MusicBrainz knows, as people write them."""
        return life_years(self.begin, self.end)

    @property
    def life_span(self) -> str:
        """In words: "born 1986", "since 1994", "until 2015", or the years; "" when MusicBrainz has none."""
        begin, end = self.begin[:4], self.end[:4]
        if begin and not end:
            return f"born {begin}" if self.artist_type == "Person" else f"since {begin}"
        if end and not begin:
            return f"until {end}"
        return self.years

    @property
    def where(self) -> str:
        return self.area or self.country

    @property
    def facts(self) -> str:
        return artist_facts(self.artist_type, self.where, self.years)


class ReleaseGroup(models.Model):
    """An album, EP, single... as MusicBrainz groups its releases."""

    mbid = models.UUIDField("MusicBrainz id", unique=True)
    artists = models.ManyToManyField(Artist, related_name="release_groups")
    title = models.CharField(max_length=1000)
    primary_type = models.CharField(max_length=32, blank=True)
    secondary_types = models.JSONField(default=list, blank=True)
    # The first day the date can mean ("2024" -> 2024-01-01); the precision keeps "2024" from being "January 1st".
    first_release_date = models.DateField(null=True, blank=True)
    date_precision = models.CharField(max_length=8, choices=DatePrecision, default=DatePrecision.UNKNOWN)
    # Derived from the types by release_kind(), stored so feeds filter in SQL.
    kind = models.CharField(max_length=12, choices=KIND_CHOICES, default="other")
    first_seen_at = models.DateTimeField(default=timezone.now)
    # Set when it disappeared upstream (deleted, or merged into another we could not match).
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["first_release_date"], name="catalog_rg_release_date"),
            models.Index(fields=["first_seen_at"], name="catalog_rg_first_seen"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def release_date_display(self) -> str:
        date = self.first_release_date
        if date is None:
            return "date unknown"
        if self.date_precision == DatePrecision.YEAR:
            return f"{date.year}"
        if self.date_precision == DatePrecision.MONTH:
            return date.strftime("%B %Y")
        return date.strftime("%B %-d, %Y")


RELEASE_KINDS = ("album", "ep", "single", "live", "compilation", "remix", "other")


def release_kind(primary_type: str, secondary_types: list[str]) -> str:
    """Map MusicBrainz types to one preference: secondary types win (a live album is "live")."""
    secondary = {t.lower() for t in secondary_types}
    for kind in ("live", "compilation", "remix"):
        if kind in secondary:
            return kind
    if secondary:  # soundtrack, interview, DJ-mix, demo, ...
        return "other"
    primary = (primary_type or "").lower()
    return primary if primary in {"album", "ep", "single"} else "other"


class Follow(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follows")
    artist = models.ForeignKey(Artist, on_delete=models.CASCADE, related_name="follows")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [models.UniqueConstraint(fields=["user", "artist"], name="catalog_follow_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} follows {self.artist_id}"


class ReleasePreferences(models.Model):
    """Which kinds of release a user wants to hear about, and when. No row means the defaults."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="release_preferences")
    # When: on its day (as always), when it is announced (an upcoming release newly found), or both.
    on_release_day = models.BooleanField("on its release day", default=True)
    when_announced = models.BooleanField("when it is announced", default=False)
    album = models.BooleanField(default=True)
    ep = models.BooleanField("EP", default=True)
    single = models.BooleanField(default=True)
    live = models.BooleanField(default=False)
    compilation = models.BooleanField(default=False)
    remix = models.BooleanField(default=False)
    other = models.BooleanField(default=False)

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(on_release_day=True) | models.Q(when_announced=True),
                name="catalog_hear_at_least_once",
            )
        ]

    def __str__(self) -> str:
        return f"release preferences of {self.user_id}"

    def wanted_kinds(self) -> list[str]:
        return [kind for kind in RELEASE_KINDS if getattr(self, kind)]


DEFAULT_KINDS = ReleasePreferences().wanted_kinds()


def parse_partial_date(value: str | None) -> tuple[dt.date | None, str]:
    """MusicBrainz dates are "YYYY-MM-DD", "YYYY-MM", "YYYY" or "": keep the precision."""
    value = (value or "").strip()
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value), DatePrecision.DAY
        if len(value) == 7:
            return dt.date(int(value[:4]), int(value[5:7]), 1), DatePrecision.MONTH
        if len(value) == 4:
            return dt.date(int(value), 1, 1), DatePrecision.YEAR
    except ValueError:
        pass
    return None, DatePrecision.UNKNOWN


class ImportJob(models.Model):
    """Following many artists at once, from ListenBrainz or a pasted list: its outcome waits here for the user."""

    class Source(models.TextChoices):
        LISTENBRAINZ = "listenbrainz", "ListenBrainz"
        LASTFM = "lastfm", "Last.fm"
        DEEZER = "deezer", "Deezer"
        NAMES = "names", "list of names"

    class Status(models.TextChoices):
        PENDING = "pending", "waiting"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"
        CANCELED = "canceled", "cancelled"  # by its owner: the task stops before its next name (8 letters fit)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="import_jobs")
    source = models.CharField(max_length=16, choices=Source.choices)
    # The ListenBrainz or Last.fm user name, the Deezer profile's number, or the pasted names, one per line.
    query = models.TextField()
    min_listens = models.PositiveIntegerField(default=0)
    period = models.CharField(max_length=16, blank=True)  # Last.fm's: lastfm.PERIODS
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)
    # A lease like Artist.sync_leased_until: a second delivery of the task waits its turn.
    leased_until = models.DateTimeField(null=True, blank=True)
    # {"total": entries to match, "pending": [entries], "followed", "not_found", "skipped" ("none of these"): [names],
    #  "ambiguous": [{"name", "candidates": [{"mbid", *services.ARTIST_FIELDS}]}]}; older ones lack some keys.
    outcome = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering: ClassVar = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_source_display()} import for {self.user_id}"
