"""Demo data for `make run`, screenshots and benchmarks."""

import datetime as dt
import uuid

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from musicdrops.accounts.models import User, normalize_email
from musicdrops.catalog.models import Artist, DatePrecision, Follow, ReleaseGroup

DEMO_USER_DOMAIN = "demo.musicdrops.local"
_NAMESPACE = uuid.UUID("6b1d3c52-8f0e-4a43-9a5e-2f6c0e8d7a10")
FOLLOWS_PER_USER = 3
KINDS = [("Album", "album"), ("EP", "ep"), ("Single", "single")]
# Listeners live in these, each with the default 08:00. None has 08:00 within an hour of midnight UTC, so a
# UTC day's slots (send_music_drops --date) serve each listener exactly once, on DST days too.
TIME_ZONES = [
    "UTC", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "America/Sao_Paulo", "Asia/Kolkata",
    "Asia/Kathmandu", "Asia/Tokyo", "Australia/Sydney", "Australia/Lord_Howe",
]  # fmt: skip


def demo_email(number: int) -> str:
    return f"listener{number:05d}@{DEMO_USER_DOMAIN}"


def _artist_count(users: int) -> int:
    return max(30, users // 100)


BATCH = 10_000  # listeners per transaction: memory stays flat however many are asked for


def demo_seed(*, users: int, demo_email_address: str, demo_password: str, today: dt.date | None = None) -> int:
    """The demo login and ``users`` verified listeners, each following artists that have a release today.

    The listeners are spread over TIME_ZONES; the demo login is in UTC.

    Idempotent: everything has a fixed identity (the release of the day is
    one per artist per day), so a second run adds nothing — and a run on a
    later day adds only that day's releases. Returns how many users are new.
    """
    today = today or timezone.localdate()
    now = timezone.now()
    created = 0
    address = normalize_email(demo_email_address)
    if not User.objects.filter(email=address).exists():
        User.objects.create_user(address, demo_password, email_verified_at=now)
        created += 1
    artist_ids = _artists_with_a_release(count=_artist_count(users), today=today, now=now)
    _follow(listener_ids={0: User.objects.get(email=address).pk}, artist_ids=artist_ids)
    # One hash for every listener: hashing 20,000 passwords would take minutes.
    password = make_password(demo_password)
    for first in range(1, users + 1, BATCH):
        with transaction.atomic():
            created += _listeners(range(first, min(first + BATCH, users + 1)), password, artist_ids, now)
    return created


def _listeners(numbers: range, password: str, artist_ids: list[int], now: dt.datetime) -> int:
    wanted = {demo_email(n): n for n in numbers}
    existing = set(User.objects.filter(email__in=wanted).values_list("email", flat=True))
    User.objects.bulk_create(
        [
            User(
                email=email,
                password=password,
                email_verified_at=now,
                date_joined=now,
                time_zone=TIME_ZONES[(number - 1) % len(TIME_ZONES)],
            )
            for email, number in wanted.items()
            if email not in existing
        ],
        batch_size=2000,
    )
    ids = User.objects.filter(email__in=wanted).values_list("email", "pk")
    _follow(listener_ids={wanted[email]: pk for email, pk in ids}, artist_ids=artist_ids)
    return len(wanted) - len(existing)


def _follow(*, listener_ids: dict[int, int], artist_ids: list[int]) -> None:
    """Listener ``number`` follows three artists picked from its number (the demo login is number 0)."""
    count = len(artist_ids)
    follows = [
        Follow(user_id=pk, artist_id=artist_ids[n])
        for number, pk in listener_ids.items()
        for n in sorted({(number * step + offset) % count for step, offset in ((1, 0), (7, 1), (13, 2))})
    ]
    Follow.objects.bulk_create(follows, batch_size=5000, ignore_conflicts=True)


def _artists_with_a_release(*, count: int, today: dt.date, now: dt.datetime) -> list[int]:
    # Marked synced: these are made-up ids, nothing to fetch from MusicBrainz.
    mbids = [uuid.uuid5(_NAMESPACE, f"artist-{n}") for n in range(count)]
    Artist.objects.bulk_create(
        [Artist(mbid=mbid, name=f"Demo Artist {n + 1}", synced_at=now) for n, mbid in enumerate(mbids)],
        ignore_conflicts=True,
        batch_size=2000,
    )
    artists = dict(Artist.objects.filter(mbid__in=mbids).values_list("mbid", "pk"))
    artist_ids = [artists[mbid] for mbid in mbids]
    release_mbids = [uuid.uuid5(_NAMESPACE, f"release-{n}-{today}") for n in range(count)]
    ReleaseGroup.objects.bulk_create(
        [
            ReleaseGroup(
                mbid=mbid,
                title=f"Demo Record {n + 1} ({today:%b %-d})",
                primary_type=KINDS[n % 3][0],
                kind=KINDS[n % 3][1],
                first_release_date=today,
                date_precision=DatePrecision.DAY,
            )
            for n, mbid in enumerate(release_mbids)
        ],
        ignore_conflicts=True,
        batch_size=2000,
    )
    releases = dict(ReleaseGroup.objects.filter(mbid__in=release_mbids).values_list("mbid", "pk"))
    Through = ReleaseGroup.artists.through
    Through.objects.bulk_create(
        [Through(artist_id=artist_ids[n], releasegroup_id=releases[mbid]) for n, mbid in enumerate(release_mbids)],
        ignore_conflicts=True,
        batch_size=2000,
    )
    return artist_ids
