"""The settings as production sees them, each in a fresh interpreter."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from musicdrops.env import mailer_config

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "SECRET_KEY": "a-production-secret-that-is-long-and-random-enough-0123456789abcdef",
    "ALLOWED_HOSTS": "musicdrops.example.com",
    "SITE_URL": "https://musicdrops.example.com",
    "DATABASE_URL": "postgres://user:pass@db.example.com:5432/musicdrops",
    "REDIS_URL": "rediss://:secret@redis.example.com:6380",
    "EMAIL_URL": "smtp://user:pass@smtp.example.com:587?tls=1",
}


def run_django(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "REDIS_URL", "DATABASE_URL"}}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup()\n{code}"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "musicdrops.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_secret_key():
    result = run_django("", **{k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"})

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_check_deploy_is_clean_in_production():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**os.environ, **PRODUCTION, "DEBUG": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_rediss_url_turns_off_certificate_checks_for_all_three_clients():
    result = run_django(
        "from django.conf import settings as s; from musicdrops.celery import app\n"
        "import ssl\n"
        "assert app.conf.broker_use_ssl == {'ssl_cert_reqs': ssl.CERT_NONE}\n"
        "from redbeat.schedulers import ensure_conf\n"
        "assert ensure_conf(app).redis_use_ssl == {'ssl_cert_reqs': ssl.CERT_NONE}\n"
        "assert s.CACHES['default']['OPTIONS']['ssl_cert_reqs'] is None\n"
        "print('ok')",
        **PRODUCTION,
    )

    assert result.stdout.strip() == "ok", result.stderr


def test_plain_redis_url_uses_no_tls_options():
    result = run_django(
        "from musicdrops.celery import app; assert app.conf.broker_use_ssl is None; print('ok')",
        **{**PRODUCTION, "REDIS_URL": "redis://127.0.0.1:6379/0"},
    )

    assert result.stdout.strip() == "ok", result.stderr


def test_options_in_the_database_url_are_kept():
    result = run_django(
        "from django.conf import settings as s; print(sorted(s.DATABASES['default']['OPTIONS'].items()))",
        **{**PRODUCTION, "DATABASE_URL": "postgres://u:p@db.example.com:5432/d?sslmode=require"},
    )

    assert result.stdout.strip() == "[('sslmode', 'require')]", result.stderr


def test_debug_must_be_a_real_boolean():
    result = run_django("", DEBUG="maybe")

    assert "DEBUG must be a boolean" in result.stderr


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:1025", {"host": "127.0.0.1", "port": 1025, "use_tls": False, "use_ssl": False}),
        ("smtp://u:p%40ss@mail.example.com:587?tls=1", {"username": "u", "password": "p@ss", "use_tls": True}),
        ("smtps://mail.example.com", {"port": 465, "use_ssl": True, "use_tls": False}),
    ],
)
def test_smtp_email_url(url, expected):
    config = mailer_config(url)

    assert config["BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert {key: config["OPTIONS"][key] for key in expected} == expected


def test_console_email_url():
    assert mailer_config("console://") == {"BACKEND": "musicdrops.console_mail.ConsoleBackend"}


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtp://host:notaport"])
def test_bad_email_url_is_a_clear_configuration_error(url):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL"):
        mailer_config(url)


def test_blank_optional_variables_mean_the_default():
    result = run_django(
        "from django.conf import settings as s; print(s.MAILERS['default']['BACKEND'], s.MUSIC_DROPS_CRON)",
        **{**PRODUCTION, "EMAIL_URL": "", "MUSIC_DROPS_CRON": "", "ALLOWED_HOSTS": "x.example.com"},
    )

    assert result.stdout.split() == ["musicdrops.console_mail.ConsoleBackend", "0", "*", "*", "*", "*"], result.stderr


def test_blank_secret_key_is_as_good_as_none():
    result = run_django("", **{**PRODUCTION, "SECRET_KEY": ""})

    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize(
    ("value", "url", "sources"),
    [
        ("", "https://coverartarchive.org", "https://coverartarchive.org https://archive.org https://*.archive.org"),
        ("http://127.0.0.1:9999/caa/", "http://127.0.0.1:9999/caa", "http://127.0.0.1:9999"),
        ("off", "", ""),
    ],
)
def test_cover_art_comes_from_where_the_csp_lets_it(value, url, sources):
    result = run_django(
        "from django.conf import settings as s\n"
        "print(repr(s.COVER_ART_URL)); print(' '.join(s.SECURE_CSP['img-src'][2:]))",
        DEBUG="1",
        COVER_ART_URL=value,
    )

    assert result.stdout.splitlines() == [repr(url), sources], result.stderr


def test_a_musicbrainz_server_of_ones_own_can_be_asked_faster():
    code = "from django.conf import settings as s; print(s.MUSICBRAINZ_REQUESTS_PER_SECOND)"
    assert run_django(code, **{**PRODUCTION, "ALLOWED_HOSTS": "x.example.com"}).stdout.split() == ["1.0"]
    faster = {**PRODUCTION, "ALLOWED_HOSTS": "x.example.com", "MUSICBRAINZ_REQUESTS_PER_SECOND": "20"}
    assert run_django(code, **faster).stdout.split() == ["20.0"]
