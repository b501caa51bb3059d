"""MusicDrops settings, from the environment: with none and ``DEBUG=1``, development (SQLite, a local Redis,
emails on the console); without ``DEBUG``, production, which refuses to start without a ``SECRET_KEY``."""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from musicdrops import __version__
from musicdrops.catalog.covers import cover_art_sources
from musicdrops.env import email_provider, env_bool, env_int, env_list, env_str, mailer_config
from musicdrops.redis_client import celery_ssl_options, client_options
from musicdrops.scheduler.schedule import beat_schedule

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"  # local state of a development checkout; never in production

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production settings refuse to start without it; for local development set DEBUG=1."
        )
    SECRET_KEY = "development-only-insecure-key-never-use-in-production"  # noqa: S105 (DEBUG only)
# Rotating the key: the old one goes here, so sessions and signed links made with it keep working (docs/deploys.md).
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
SITE_URL = env_str("SITE_URL", "http://localhost:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = [SITE_URL]
# In heartbeats, logs and Sentry, so a process left from an older deploy stands out (musicdrops/release.py).
RELEASE = env_str("HEROKU_RELEASE_VERSION") or env_str("RELEASE")
COMMIT = env_str("HEROKU_SLUG_COMMIT") or env_str("SOURCE_VERSION")

INSTALLED_APPS = [
    "musicdrops.accounts",
    "musicdrops.catalog",
    "musicdrops.drops",
    "musicdrops.feeds",
    "musicdrops.front",
    "musicdrops.jobs",
    "musicdrops.ops",
    "musicdrops.scheduler",
    "anymail",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "musicdrops.ops.middleware.HealthCheckMiddleware",  # first: probes skip host checks and sessions
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "musicdrops.accounts.middleware.ThrottledMiddleware",  # "too many attempts" (429) from any view
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "musicdrops.urls"
WSGI_APPLICATION = "musicdrops.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
# Persistent connections, checked before use: a PostgreSQL restart does not fail the next request.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
# gunicorn.conf.py sets it for web: a page stops a runaway query before it starves /healthz; workers wait it out.
_STATEMENT_TIMEOUT_MS = env_int("DATABASE_STATEMENT_TIMEOUT_MS", 0)
if _STATEMENT_TIMEOUT_MS and "postgresql" in DATABASES["default"]["ENGINE"]:
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = f"-c statement_timeout={_STATEMENT_TIMEOUT_MS}"
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Development: every process writes one file. WAL and IMMEDIATE let them take turns without deadlocks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

# --- Redis: broker, RedBeat and cache share one server -----------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
_REDIS_SSL = celery_ssl_options(REDIS_URL)
# Every pool is bounded: the formation fits the plan app.json names (tests/integration/test_redis_connections.py).
REDIS_DIRECT_MAX_CONNECTIONS = 2
# The Redis plan's connection limit: check, migrate, workers and the beat refuse to start when the formation
# cannot fit it (musicdrops/connections.py). Unset: no check.
REDIS_MAX_CONNECTIONS = env_int("REDIS_MAX_CONNECTIONS", 0)
# How many of each process type run, as the platform's formation ("web=2,worker-drops=3"); the rest run one each.
FORMATION = env_str("FORMATION")
WEB_CONCURRENCY = env_int("WEB_CONCURRENCY", 2)  # gunicorn processes per web dyno (gunicorn.conf.py reads it too)
GUNICORN_THREADS = env_int("GUNICORN_THREADS", 4)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "musicdrops",
        "OPTIONS": {
            # Django keeps a pool per thread, and a thread uses one connection at a time.
            "pool_class": "redis.BlockingConnectionPool",
            "max_connections": 1,
            "timeout": 5,  # seconds to wait for the connection
            "socket_timeout": 5,
            "socket_connect_timeout": 5,
            **client_options(REDIS_URL),
        },
    }
}

# --- Celery (read by musicdrops/celery.py; the CELERY_ prefix is stripped) ---
CELERY_BROKER_URL = REDIS_URL  # one Redis for everything: one add-on, one connection budget
CELERY_BROKER_USE_SSL = _REDIS_SSL  # Heroku: self-signed certificate (rediss://)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True  # a worker started before Redis waits for it
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Above the longest task (checked at start), or a slow task is handed to a second worker.
    "visibility_timeout": env_int("BROKER_VISIBILITY_TIMEOUT", 600),
    # Look for messages a dead worker left every 10 s (kombu's default: every 100 s).
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
    "max_connections": 4,
    "socket_timeout": 30,
    "socket_connect_timeout": 5,
    "health_check_interval": 25,
}

# JSON only: a pickled message can run arbitrary code (docs/failures/6-pickle.md).
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"

CELERY_TASK_ACKS_LATE = True  # acked once done: a worker killed mid-task leaves the message for another
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # a killed pool child requeues its task
# A task that raised or hit its hard time limit is acknowledged, not requeued to fail again (docs/choices.md).
CELERY_TASK_ACKS_ON_FAILURE = True
CELERY_TASK_ACKS_ON_TIMEOUT = True
# `celery inspect`/`control` and Flower work out of the box (docs/operators.md); WORKER_REMOTE_CONTROL=0 turns
# them off for a plan half the size (docs/failures/3-redis-full-of-results.md).
CELERY_WORKER_ENABLE_REMOTE_CONTROL = env_bool("WORKER_REMOTE_CONTROL", True)
CELERY_WORKER_SEND_TASK_EVENTS = CELERY_WORKER_ENABLE_REMOTE_CONTROL  # received, started, succeeded...
CELERY_TASK_SEND_SENT_EVENT = CELERY_WORKER_ENABLE_REMOTE_CONTROL  # ...and sent, by whoever queues it
# An inspect takes two at once, one to send and one to read the replies: with one it waits forever.
CELERY_BROKER_POOL_LIMIT = env_int("BROKER_POOL_LIMIT", 2 if CELERY_WORKER_ENABLE_REMOTE_CONTROL else 1)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a busy worker doesn't hoard messages others could run
# A running task goes on through a Redis restart: its work is fenced in PostgreSQL.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# SIGTERM: running tasks get 2 s, then are requeued: gone inside honcho's and foreman's 5 s (docs/deploys.md).
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = 2.0
CELERY_WORKER_ENABLE_SOFT_SHUTDOWN_ON_IDLE = False
# A stuck task is stopped instead of holding a worker (and its message) forever.
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 150

# No result backend: a watched task writes its state to its row (docs/failures/3-redis-full-of-results.md).
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_EXPIRES = None  # no results, so no celery.backend_cleanup entry in the beat's schedule

# A worker per queue: bulk work ("regular") never delays what a person waits for, nor anybody's email.
QUEUE_REGULAR = "regular"
QUEUE_IMPORTANT = "important"
QUEUE_DROPS = "drops"
CELERY_TASK_DEFAULT_QUEUE = QUEUE_REGULAR  # unrouted work never lands on the important queue
CELERY_TASK_QUEUES = [
    Queue(QUEUE_REGULAR, Exchange(QUEUE_REGULAR), routing_key=QUEUE_REGULAR),
    Queue(QUEUE_IMPORTANT, Exchange(QUEUE_IMPORTANT), routing_key=QUEUE_IMPORTANT),
    Queue(QUEUE_DROPS, Exchange(QUEUE_DROPS), routing_key=QUEUE_DROPS),
]
CELERY_TASK_CREATE_MISSING_QUEUES = False  # a typo in a queue name fails loudly
# Each queue's worker pool size, as the Procfile's worker lines read it (REGULAR_CONCURRENCY...): for the budget.
WORKER_CONCURRENCY = {queue.name: env_int(f"{queue.name.upper()}_CONCURRENCY", 2) for queue in CELERY_TASK_QUEUES}
CELERY_TASK_ROUTES = {
    "musicdrops.accounts.tasks.send_verification_email_task": {"queue": QUEUE_IMPORTANT},
    "musicdrops.accounts.tasks.send_address_change_requested_task": {"queue": QUEUE_IMPORTANT},
    "musicdrops.accounts.tasks.send_email_change_email_task": {"queue": QUEUE_IMPORTANT},
    "musicdrops.accounts.tasks.send_address_in_use_email_task": {"queue": QUEUE_IMPORTANT},
    "musicdrops.accounts.tasks.send_password_reset_email_task": {"queue": QUEUE_IMPORTANT},
    "musicdrops.catalog.tasks.sync_artist_now_task": {"queue": QUEUE_IMPORTANT},
    "musicdrops.jobs.tasks.refresh_library_task": {"queue": QUEUE_IMPORTANT},
    "musicdrops.drops.tasks.send_music_drops_task": {"queue": QUEUE_DROPS},
    "musicdrops.drops.tasks.fan_out_drops_task": {"queue": QUEUE_DROPS},
    "musicdrops.drops.tasks.send_drop_chunk_task": {"queue": QUEUE_DROPS},
    "musicdrops.drops.tasks.sweep_music_drops_task": {"queue": QUEUE_DROPS},
    "musicdrops.drops.tasks.trim_drops_ledger_task": {"queue": QUEUE_DROPS},
}
CELERY_WORKER_CONSUMER = "musicdrops.consumer:Consumer"  # refused messages are kept, not dropped
REJECTED_MESSAGES_KEY = "musicdrops:rejected-messages"
# At most 2 MB however many arrive (a 10 MB message is kept as its first few KB): docs/failures/6-pickle.md.
REJECTED_MESSAGES_KEPT = 500
REJECTED_MESSAGE_BYTES = 4096

# RedBeat: the schedule in Redis behind a lock renewed every second; a standby takes over within ~6 s.
CELERY_BEAT_SCHEDULER = "musicdrops.scheduler.beat:Scheduler"  # RedBeat + heartbeat: no file, a lock
CELERY_BEAT_MAX_LOOP_INTERVAL = 1  # the lock is renewed every second
# RedBeat's settings keep their own names, without CELERY_: RedBeat 2.4 checks for a setting by that name.
REDBEAT_REDIS_URL = REDIS_URL
REDBEAT_REDIS_USE_SSL = _REDIS_SSL  # RedBeat verifies certificates unless told not to
REDBEAT_LOCK_TIMEOUT = 5  # a dead beat's lock frees in 5 s (default: 25 minutes)
# A beat waiting on Redis longer than its lock lasts has lost it anyway: time out, never hang.
REDBEAT_REDIS_OPTIONS = {
    "socket_timeout": REDBEAT_LOCK_TIMEOUT,
    "socket_connect_timeout": REDBEAT_LOCK_TIMEOUT,
    "health_check_interval": 25,
}
BEAT_HEARTBEAT_INTERVAL = 5
BEAT_HEARTBEAT_TTL = 20  # a beat silent for this long is gone
# /healthz: "degraded" while a recent duplicate dispatch is unacknowledged, or a pause outlasts a deploy.
DUPLICATE_ALERT_WINDOW = 24 * 3600
SCHEDULE_PAUSE_ALERT_AFTER = 3600
# /healthz says "degraded" while no worker has taken a queue's ping for this long plus QUEUE_PING_SECONDS.
QUEUE_AGE_ALERT_SECONDS = env_int("QUEUE_AGE_ALERT_SECONDS", 300)
# /metrics answers only with "Authorization: Bearer <this>"; unset, it answers nobody.
METRICS_TOKEN = env_str("METRICS_TOKEN")
# Keep it hourly: each slot serves the users whose own delivery hour it is (docs/delivery-times.md).
MUSIC_DROPS_CRON = env_str("MUSIC_DROPS_CRON", "0 * * * *")
# Drills and tests only: send every N seconds instead of on MUSIC_DROPS_CRON.
MUSIC_DROPS_EVERY_SECONDS = env_int("MUSIC_DROPS_EVERY_SECONDS", 0)
# A slot also serves whoever's delivery time passed this many hours back without their email (missed slots).
DROPS_CATCH_UP_HOURS = env_int("DROPS_CATCH_UP_HOURS", 3)
# The send's clocks (musicdrops/drops/), checked together at start (musicdrops/drops/checks.py).
DROPS_CHUNK_SECONDS = env_int("DROPS_CHUNK_SECONDS", 60)  # a chunk hands the rest on after this
DROPS_LEASE_SECONDS = env_int("DROPS_LEASE_SECONDS", CELERY_TASK_SOFT_TIME_LIMIT)  # as long as its task may run
DROPS_PICKUP_SECONDS = env_int("DROPS_PICKUP_SECONDS", 600)  # a queued chunk's users wait this long before the sweep
DROPS_SWEEP_SECONDS = env_int("DROPS_SWEEP_SECONDS", 30)  # how often the sweep looks for users left behind
# The sweep takes up a fan-out with no page done for this long (a page that only waited is then run twice: harmless).
DROPS_FAN_OUT_STALL_SECONDS = env_int("DROPS_FAN_OUT_STALL_SECONDS", 30)
DROPS_OVERDUE_SECONDS = env_int("DROPS_OVERDUE_SECONDS", 1800)  # /healthz: due this long and not sent is overdue
DROPS_RETRY_HOURS = env_int("DROPS_RETRY_HOURS", 12)  # chunks retry, and the sweep re-queues, this long after a send
DROPS_RETRY_BACKOFF_MAX = env_int("DROPS_RETRY_BACKOFF_MAX", 60)  # seconds between a chunk's retries, at most
DROPS_KEEP_DAYS = env_int("DROPS_KEEP_DAYS", 60)  # the ledger's window (docs/ledger.md); 15 at the least
# Push channels (musicdrops/safe_http.py): a fan's URL is fetched with these limits.
SAFE_HTTP_ALLOW_HTTP = env_bool("SAFE_HTTP_ALLOW_HTTP", DEBUG)  # plain http: development and tests only
SAFE_HTTP_ALLOW_LOOPBACK = env_bool("SAFE_HTTP_ALLOW_LOOPBACK", False)  # 127.0.0.1: tests' local push servers only
SAFE_HTTP_CONNECT_SECONDS = env_int("SAFE_HTTP_CONNECT_SECONDS", 3)
SAFE_HTTP_READ_SECONDS = env_int("SAFE_HTTP_READ_SECONDS", 5)
SAFE_HTTP_TOTAL_SECONDS = env_int("SAFE_HTTP_TOTAL_SECONDS", 10)
PUSH_TESTS_PER_HOUR = env_int("PUSH_TESTS_PER_HOUR", 20)  # "Send a test message" presses per account
# Every queue gets a no-op this often, so that one nobody consumes shows in /healthz (queue-stuck).
QUEUE_PING_SECONDS = env_int("QUEUE_PING_SECONDS", 60)
# Every periodic job: musicdrops/scheduler/schedule.py
CELERY_BEAT_SCHEDULE = beat_schedule(
    drops_cron=MUSIC_DROPS_CRON,
    drops_every_seconds=MUSIC_DROPS_EVERY_SECONDS,
    sweep_seconds=DROPS_SWEEP_SECONDS,
    ping_seconds=QUEUE_PING_SECONDS,
    ping_expires=QUEUE_AGE_ALERT_SECONDS,  # a ping that waited longer is dropped unrun: its queue is stuck
    queues=tuple(queue.name for queue in CELERY_TASK_QUEUES),  # a queue added there gets its ping too
)

# --- Upstream music services ---------------------------------------------------
MUSICBRAINZ_URL = env_str("MUSICBRAINZ_URL", "https://musicbrainz.org/ws/2").rstrip("/")
LISTENBRAINZ_URL = env_str("LISTENBRAINZ_URL", "https://api.listenbrainz.org").rstrip("/")
LASTFM_URL = env_str("LASTFM_URL", "https://ws.audioscrobbler.com/2.0/")
LASTFM_API_KEY = env_str("LASTFM_API_KEY")  # free from last.fm/api; unset, the Last.fm import says it is off
DEEZER_URL = env_str("DEEZER_URL", "https://api.deezer.com").rstrip("/")
# MusicBrainz blocks generic User-Agents: name the app, its version and a contact.
MUSICBRAINZ_USER_AGENT = f"MusicDrops/{__version__} ( {SITE_URL} )"
# Shared by every process (musicdrops.catalog.ratelimit): 1 for the public service (docs/scaling.md).
MUSICBRAINZ_REQUESTS_PER_SECOND = float(env_str("MUSICBRAINZ_REQUESTS_PER_SECOND", "1") or "1")
# A person's search goes ahead of the background work, up to this many a minute (docs/catalog.md).
MUSICBRAINZ_INTERACTIVE_PER_MINUTE = env_int("MUSICBRAINZ_INTERACTIVE_PER_MINUTE", 15)  # 0: no lane
MUSICBRAINZ_SEARCH_CACHE_SECONDS = 600  # the same artist search again within this is answered from the cache
# Half of the 8 KB request line MusicBrainz's front end takes (docs/catalog.md).
MUSICBRAINZ_SEARCH_MAX_URL = 4000
UPSTREAM_TIMEOUT = 10  # seconds per HTTP request
# Loaded by the reader's browser or mail client, never by us ("off": placeholders only).
COVER_ART_URL = env_str("COVER_ART_URL", "https://coverartarchive.org").rstrip("/")
if COVER_ART_URL.lower() == "off":  # empty means the default, as for every variable
    COVER_ART_URL = ""
# The CSP's img-src: the archive redirects to archive.org's storage hosts.
COVER_ART_SOURCES = cover_art_sources(COVER_ART_URL)

# --- Keeping the catalog fresh (musicdrops/catalog/discovery.py, docs/catalog.md) ---
# 50 minutes: with the index's lag and the 2-minute beat, a new release is in within the hour.
CATALOG_SEARCH_SECONDS = 3000
CATALOG_HOT_SEARCH_SECONDS = 1200
CATALOG_HOT_FOLLOWERS = 25
# Releases announced for later than the near window are searched for once a day.
CATALOG_FAR_SEARCH_SECONDS = 86400
# The authoritative per-artist browse, in what the searches leave of the budget: at most this often.
CATALOG_BROWSE_AFTER_SECONDS = 86400

# --- "Refresh now" and the pages that watch a task ---
REFRESH_SECONDS = env_int("REFRESH_SECONDS", 60)  # one refresh syncs for this long; the periodic sync does the rest
# The page stops polling after this and says so (the task may still finish).
TASK_POLL_TIMEOUT_SECONDS = env_int("TASK_POLL_TIMEOUT_SECONDS", 120)

# --- Email ------------------------------------------------------------------
# EMAIL_URL picks the backend (docs/email-providers.md); with none, emails are printed to the console.
MAILERS = {"default": mailer_config(env_str("EMAIL_URL", "console://"))}
# The provider EMAIL_URL names, if any: its tracking webhook (bounces, complaints) is served under /anymail/.
EMAIL_PROVIDER = email_provider(env_str("EMAIL_URL", "console://"))
# Without WEBHOOK_SECRET ("user:password", the webhook's basic auth) no webhook is served: no fake bounces.
ANYMAIL = {
    key: value
    for key, value in {
        "WEBHOOK_SECRET": env_str("ANYMAIL_WEBHOOK_SECRET"),
        "MAILGUN_WEBHOOK_SIGNING_KEY": env_str("MAILGUN_WEBHOOK_SIGNING_KEY"),
        "RESEND_SIGNING_SECRET": env_str("RESEND_SIGNING_SECRET"),
    }.items()
    if value
}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "MusicDrops <drops@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Accounts ---------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "musicdrops.accounts.backends.ThrottleBackend",  # first: refuses a throttled log-in before any password hash
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "front:dashboard"
LOGOUT_REDIRECT_URL = "front:home"
PASSWORD_RESET_TIMEOUT = 3 * 3600
EMAIL_VERIFICATION_TIMEOUT = 7 * 24 * 3600
# Per address per hour: a stranger cannot turn the forms into a way to flood someone's inbox.
ACCOUNT_EMAILS_PER_HOUR = 5
# Throttles shared by every web process (musicdrops/accounts/throttle.py), refused with a 429.
LOGIN_FAILURES_PER_ACCOUNT = env_int("LOGIN_FAILURES_PER_ACCOUNT", 10)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 50)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60)
ACCOUNT_REQUESTS_PER_ADDRESS_PER_HOUR = env_int("ACCOUNT_REQUESTS_PER_ADDRESS_PER_HOUR", 20)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Static files -------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names can be cached forever; compressed copies are served as-is.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security -------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Read from Redis, written through to PostgreSQL: polls cost no session query, a Redis flush logs nobody out.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
CSRF_COOKIE_HTTPONLY = True
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:", *COVER_ART_SOURCES],
    "connect-src": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
    "base-uri": ["'none'"],
    "object-src": ["'none'"],
}
if not DEBUG:
    # Heroku's router terminates TLS and says so in X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Logging: one line per event on stdout, where every platform collects it ---
# Each line carries the task id, entry and slot (musicdrops/logs.py); production writes logfmt or json.
LOG_FORMAT = env_str("LOG_FORMAT", "plain" if DEBUG else "logfmt")
if LOG_FORMAT not in {"plain", "logfmt", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain, logfmt or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "musicdrops.logs.ContextFilter"},
        # After "context": it reads the entry a beat's line is about.
        "quiet": {"()": "musicdrops.logs.QuietWhenIdle"},
        "demote": {"()": "musicdrops.logs.DemoteToWarning"},
        "not_probes": {
            "()": "django.utils.log.CallbackFilter",
            "callback": "ext://musicdrops.logs.not_a_health_probe",
        },
    },
    "formatters": {"main": {"()": "musicdrops.logs.make_formatter", "kind": LOG_FORMAT}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "main", "filters": ["context", "quiet"]}},
    "root": {"handlers": ["stdout"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Ours instead of Django's default console handler, which printed each error a second time, bare.
        "django": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "INFO"},
        "django.request": {"filters": ["not_probes"]},
        # Anyone can send a bad Host header: a warning without traceback, paging nobody.
        "django.security.DisallowedHost": {"filters": ["demote"]},
    },
}

# --- Error reporting: Sentry, only when SENTRY_DSN is set ------------------------------
# Here, so every process reports alike; no personal data, no tracing.
SENTRY_DSN = env_str("SENTRY_DSN")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import ignore_logger

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        release=COMMIT or RELEASE or None,  # None: the SDK asks git
        environment=env_str("SENTRY_ENVIRONMENT", "development" if DEBUG else "production"),
        send_default_pii=False,
        traces_sample_rate=0.0,
    )
    # Bad Host headers are noise anyone can make, not errors worth Sentry's quota.
    ignore_logger("django.security.DisallowedHost")
