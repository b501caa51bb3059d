"""Demo data for `make run`, screenshots and benchmarks."""

import datetime as dt
import uuid

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from musicdrops.accounts.models import User, normalize_email
from musicdrops.catalog.models import Artist, DatePrecision, Follow, ImportJob, ReleaseGroup

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


# The demo login's catalogue, all made up (README's pictures, `make run` offline). Its MBIDs are uuid5 in our
# namespace, version 5, where MusicBrainz issues version 4: the database marks them made up as they are written, and
# the catalog's sync never asks MusicBrainz about them (musicdrops.catalog.models.Artist.made_up).
# (name, disambiguation, type, area, country, begin, end, releases): releases is how many, the first ones curated.
CATALOG = [
    ("Juniper & Ash", "", "Group", "Ireland", "IE", "2014", "", 6),
    ("Northbound Static", "", "Group", "Canada", "CA", "2009", "", 7),
    ("Lumen Choir", "", "Choir", "Estonia", "EE", "1998", "", 5),
    ("Mira Okafor", "", "Person", "Lagos", "NG", "1991-04-02", "", 6),
    ("The Paper Lanterns", "UK folk band", "Group", "United Kingdom", "GB", "2011", "", 9),
    ("The Paper Lanterns", "US indie pop band", "Group", "United States", "US", "2016", "2024", 4),
    ("Orchestre du Nord-Est", "", "Orchestra", "Lille", "FR", "1972", "", 140),
    ("The Quiet Engines", "", "Group", "Manchester", "GB", "2003", "", 75),
    ("Søren Kvist", "jazz bassist", "Person", "Copenhagen", "DK", "1949-11-03", "2022-05-30", 110),
    ("Hollow Pines", "", "Group", "Portland", "US", "2005", "", 8),
    ("Inês Carvalho", "", "Person", "Lisbon", "PT", "1987-09-14", "", 6),
    ("Kestrel Park", "", "Group", "Melbourne", "AU", "2018", "", 5),
    ("Tomasz Wieczorek", "pianist", "Person", "Kraków", "PL", "1979", "", 9),
    ("Saltwater Hymnal", "", "Group", "Halifax", "CA", "2012", "2021", 5),
    ("DJ Marisol", "house DJ", "Person", "Mexico City", "MX", "1990", "", 12),
    ("Yuki Aramaki", "", "Person", "Osaka", "JP", "1984-01-22", "", 7),
    ("Velvet Cartography", "", "Group", "Berlin", "DE", "2010", "", 6),
    ("Ama Boateng", "", "Person", "Accra", "GH", "1995", "", 5),
    ("Glasshouse Quartet", "string quartet", "Group", "Vienna", "AT", "2001", "", 8),
    ("Riverbed Radio", "", "Group", "Nashville", "US", "2015", "", 6),
    ("Night Ferry", "", "Group", "Helsinki", "FI", "2019", "", 4),
    ("Paloma Reyes", "", "Person", "Buenos Aires", "AR", "1993", "", 6),
    ("Static Bloom", "", "Group", "Seoul", "KR", "2017", "", 7),
    ("Copperline", "", "Group", "Dublin", "IE", "2008", "", 6),
    ("Elif Demir", "", "Person", "Istanbul", "TR", "1989", "", 5),
    ("Captain Moonbeam", "cartoon bandleader", "Character", "", "", "2020", "", 4),
    ("The Understudies", "", "Group", "Chicago", "US", "1996", "2009", 6),
    ("Aurora Weekend", "", "Group", "Stockholm", "SE", "2021", "", 4),
    ("Bram van Dijk", "", "Person", "Utrecht", "NL", "1976", "", 5),
    ("Harbourside Brass Band", "", "Group", "Cardiff", "GB", "1958", "", 6),
    ("Lia Moretti", "", "Person", "Milan", "IT", "1998", "", 4),
    ("Woodsmoke Society", "", "Group", "Vancouver", "CA", "2013", "", 5),
]  # fmt: skip
NOT_FOLLOWED = 4  # the demo login follows all but the last few: something is left to find and follow
# (artist, title, kind, days from the day seeded, precision): what the pictures show.
CURATED = [
    (0, "Slow Rivers", "album", 6, "day"), (0, "Kindling", "ep", -120, "day"),
    (1, "Signal / Noise", "album", 21, "day"), (1, "Carrier Wave", "single", -15, "day"),
    (2, "Evensong", "single", 0, "day"), (3, "Field Recordings, Vol. 2", "ep", 0, "day"),
    (4, "Small Hours", "album", 0, "day"), (4, "Lanternlight", "album", -400, "day"),
    (4, "Winter Songs", "ep", -900, "day"), (4, "The Long Way Round", "single", -40, "day"),
    (5, "Harbour Lights", "single", 0, "day"), (6, "Symphonie des marées", "album", 45, "month"),
    (7, "Live at the Apollo", "live", -2, "day"), (9, "Pines in Winter", "compilation", 0, "day"),
    (14, "Midnight Tram (Marisol Remix)", "remix", 3, "day"), (15, "Paper Moon", "other", -6, "day"),
]  # fmt: skip
# kind: (primary type, secondary types), as MusicBrainz would have them.
TYPES = {
    "album": ("Album", []), "ep": ("EP", []), "single": ("Single", []), "live": ("Album", ["Live"]),
    "compilation": ("Album", ["Compilation"]), "remix": ("Single", ["Remix"]), "other": ("Album", ["Soundtrack"]),
}  # fmt: skip
_KIND_CYCLE = ["album", "single", "ep", "single", "live", "album", "compilation", "remix", "single", "other"]
_WORDS = [
    "Amber", "Harbour", "Static", "Lantern", "Winter", "Signal", "Orchard", "Velvet", "Northern", "Paper", "Hollow",
    "Copper", "Midnight", "Silver", "Quiet", "Distant", "Salt", "River", "Glass", "Ember", "Morning", "Tidal",
    "Falling", "Open", "Golden", "Faded", "Electric", "Wild", "Borrowed", "Last",
]  # fmt: skip
_NOUNS = [
    "Lights", "Rooms", "Maps", "Voices", "Fields", "Hours", "Engines", "Letters", "Waves", "Gardens", "Stations",
    "Echoes", "Roads", "Skies", "Rivers", "Nights", "Bells", "Stories", "Mirrors", "Tides", "Years", "Songs",
    "Windows", "Circles", "Horizons", "Islands", "Shadows", "Threads",
]  # fmt: skip
# Days from the day seeded, for the n-th made-up release of an artist (a little earlier for each artist); the second
# is upcoming for one artist in five: with the curated ones, about the ten the feed shows on top.
_OFFSETS = [-9, 14, -33, -70, -130, -160, -210, -320, -480, -700]


def _made_up_releases(artist: int, count: int) -> list[tuple[str, str, int, str]]:
    """``count`` releases for the artist: the curated ones, then made-up titles going back a year or so each."""
    releases = [(title, kind, days, precision) for by, title, kind, days, precision in CURATED if by == artist]
    titles = {title for title, *_ in releases}
    n = 0
    while len(releases) < count:
        title = f"{_WORDS[(artist * 7 + n * 3) % len(_WORDS)]} {_NOUNS[(artist * 11 + n * 5) % len(_NOUNS)]}"
        if title in titles:
            title = f"{title}, Vol. {n // len(_WORDS) + 2}"
        titles.add(title)
        if n < len(_OFFSETS):
            days, precision = _OFFSETS[n] + (artist % 9 if n == 1 else -(artist % 9)), "day"
            if n == 1 and artist % 5:
                days = -days
        else:  # older and older, and as MusicBrainz often has old ones: a month or only a year
            days, precision = -700 - 75 * (n - len(_OFFSETS)), ["day", "month", "year"][n % 3]
        releases.append((title, _KIND_CYCLE[(artist + n) % len(_KIND_CYCLE)], days, precision))
        n += 1
    return releases


def _catalog_seed(*, user_id: int, today: dt.date, now: dt.datetime) -> None:
    """The made-up artists and their releases, re-dated from ``today`` on each run; the demo login follows most."""
    mbids = [uuid.uuid5(_NAMESPACE, f"catalog/artist/{row[0]}/{row[1]}") for row in CATALOG]
    Artist.objects.bulk_create(
        [
            Artist(
                mbid=mbid,
                made_up=True,
                name=name,
                sort_name=name,
                disambiguation=disambiguation,
                artist_type=kind,
                area=area,
                country=country,
                begin=begin,
                end=end,
                synced_at=now,
            )
            for mbid, (name, disambiguation, kind, area, country, begin, end, _) in zip(mbids, CATALOG, strict=True)
        ],
        update_conflicts=True,
        unique_fields=["mbid"],
        update_fields=["name", "sort_name", "disambiguation", "artist_type", "area", "country", "begin", "end"],
    )
    artist_ids = dict(Artist.objects.filter(mbid__in=mbids).values_list("mbid", "pk"))
    groups: list[ReleaseGroup] = []
    links: list[tuple[uuid.UUID, int]] = []
    for n, (mbid, row) in enumerate(zip(mbids, CATALOG, strict=True)):
        for title, kind, days, precision in _made_up_releases(n, row[-1]):
            release_mbid = uuid.uuid5(_NAMESPACE, f"catalog/release/{mbid}/{title}")
            date = today + dt.timedelta(days=days)
            if precision != "day":
                date = date.replace(month=1 if precision == "year" else date.month, day=1)
            primary, secondary = TYPES[kind]
            groups.append(
                ReleaseGroup(
                    mbid=release_mbid,
                    title=title,
                    kind=kind,
                    primary_type=primary,
                    secondary_types=secondary,
                    first_release_date=date,
                    date_precision=precision,
                    first_seen_at=now - dt.timedelta(days=1),
                )
            )
            links.append((release_mbid, artist_ids[mbid]))
    ReleaseGroup.objects.bulk_create(
        groups,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["mbid"],
        update_fields=["title", "kind", "primary_type", "secondary_types", "first_release_date", "date_precision"],
    )
    release_ids = dict(ReleaseGroup.objects.filter(mbid__in=[m for m, _ in links]).values_list("mbid", "pk"))
    Through = ReleaseGroup.artists.through
    Through.objects.bulk_create(
        [Through(artist_id=artist, releasegroup_id=release_ids[m]) for m, artist in links],
        batch_size=500,
        ignore_conflicts=True,
    )
    followed = [artist_ids[mbid] for mbid in mbids[: len(mbids) - NOT_FOLLOWED]]
    Follow.objects.bulk_create([Follow(user_id=user_id, artist_id=pk) for pk in followed], ignore_conflicts=True)
    if not ImportJob.objects.filter(user_id=user_id).exists():
        _import_seed(user_id=user_id, now=now)


def _import_seed(*, user_id: int, now: dt.datetime) -> None:
    """A pasted list that ended with two names to choose between artists (the README's picture of an import)."""

    def candidate(n: int, name: str, disambiguation: str, kind: str, area: str, begin: str) -> dict[str, object]:
        return {
            "mbid": str(uuid.uuid5(_NAMESPACE, f"catalog/candidate/{n}")), "name": name,
            "disambiguation": disambiguation, "score": 100 - n, "artist_type": kind, "country": "", "area": area,
            "begin": begin, "end": "",
        }  # fmt: skip

    ImportJob.objects.create(
        user_id=user_id,
        source=ImportJob.Source.NAMES,
        query="Lumen Choir\nHalcyon\nThe Meridians\nNobody Knows This Band",
        status=ImportJob.Status.DONE,
        created_at=now - dt.timedelta(minutes=3),
        finished_at=now - dt.timedelta(minutes=2),
        outcome={
            "total": 4,
            "pending": [],
            "followed": ["Lumen Choir"],
            "not_found": ["Nobody Knows This Band"],
            "ambiguous": [
                {
                    "name": "Halcyon",
                    "candidates": [
                        candidate(1, "Halcyon", "Australian ambient duo", "Group", "Australia", "2003"),
                        candidate(2, "Halcyon", "UK drum and bass producer", "Person", "United Kingdom", "1985"),
                    ],
                },
                {
                    "name": "The Meridians",
                    "candidates": [
                        candidate(3, "The Meridians", "Swedish jazz trio", "Group", "Sweden", "2012"),
                        candidate(4, "The Meridians", "1960s soul group", "Group", "United States", "1962"),
                    ],
                },
            ],
        },
    )


def demo_email(number: int) -> str:
    return f"listener{number:05d}@{DEMO_USER_DOMAIN}"


def _artist_count(users: int) -> int:
    return max(30, users // 100)


BATCH = 10_000  # listeners per transaction: memory stays flat however many are asked for


def demo_seed(*, users: int, demo_email_address: str, demo_password: str, today: dt.date | None = None) -> int:
    """The demo login (following most of CATALOG) and ``users`` listeners spread over TIME_ZONES, each following
    artists with a release today. Idempotent (fixed identities); returns how many users are new."""
    today = today or timezone.localdate()
    now = timezone.now()
    created = 0
    address = normalize_email(demo_email_address)
    if not User.objects.filter(email=address).exists():
        User.objects.create_user(address, demo_password, email_verified_at=now)
        created += 1
    artist_ids = _artists_with_a_release(count=_artist_count(users), today=today, now=now)
    _catalog_seed(user_id=User.objects.get(email=address).pk, today=today, now=now)
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
        [Artist(mbid=mbid, made_up=True, name=f"Demo Artist {n + 1}", synced_at=now) for n, mbid in enumerate(mbids)],
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
