"""RedBeat sees the REDBEAT_* settings: no fallback to the broker's, and its Redis client has time-outs."""

import warnings

import pytest
from django.conf import settings
from redbeat.schedulers import REDBEAT_REDIS_KEY, RedBeatConfig, get_redis

from musicdrops.celery import app


def test_redbeat_takes_its_own_settings_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "RedBeat will stop falling back to broker_url ..."
        config = RedBeatConfig(app)

    assert config.redis_url == settings.REDBEAT_REDIS_URL
    assert config.redbeat_redis_options == settings.REDBEAT_REDIS_OPTIONS
    assert config.lock_timeout == settings.REDBEAT_LOCK_TIMEOUT


@pytest.fixture
def fresh_redbeat_client():
    """get_redis() builds its client once per app: build it anew here, and put the old one back after."""
    old = getattr(app, REDBEAT_REDIS_KEY, None)
    setattr(app, REDBEAT_REDIS_KEY, None)
    yield
    client = getattr(app, REDBEAT_REDIS_KEY, None)
    if client is not None:
        client.close()
    setattr(app, REDBEAT_REDIS_KEY, old)


@pytest.mark.usefixtures("fresh_redbeat_client")
def test_redbeats_redis_client_gives_up_on_a_silent_server_before_its_lock_expires():
    client = get_redis(app)

    options = client.connection_pool.connection_kwargs
    assert options["socket_timeout"] == settings.REDBEAT_LOCK_TIMEOUT
    assert options["socket_connect_timeout"] == settings.REDBEAT_LOCK_TIMEOUT
    assert options["health_check_interval"] == 25
    assert client.ping()
