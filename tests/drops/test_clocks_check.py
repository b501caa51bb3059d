"""The send's clocks are checked together at start: a misconfigured variable names the limit it breaks."""

import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from musicdrops.drops.checks import drops_clocks


def ids() -> list[str | None]:
    return [check.id for check in drops_clocks()]


def test_the_default_clocks_fit_together():
    assert drops_clocks() == []


def test_a_chunk_longer_than_the_soft_time_limit_is_an_error(settings):
    settings.DROPS_CHUNK_SECONDS = settings.CELERY_TASK_SOFT_TIME_LIMIT
    settings.DROPS_LEASE_SECONDS = settings.CELERY_TASK_SOFT_TIME_LIMIT + 60
    assert ids() == ["drops.E002"]


def test_a_lease_no_longer_than_the_chunk_is_an_error(settings):
    settings.DROPS_LEASE_SECONDS = settings.DROPS_CHUNK_SECONDS
    assert ids() == ["drops.E003"]


def test_a_soft_limit_at_the_hard_one_is_an_error(settings):
    settings.CELERY_TASK_SOFT_TIME_LIMIT = settings.CELERY_TASK_TIME_LIMIT
    assert "drops.E004" in ids()


def test_zero_or_negative_clocks_are_errors(settings):
    settings.DROPS_SWEEP_SECONDS = 0
    settings.DROPS_RETRY_BACKOFF_MAX = -1
    assert ids() == ["drops.E001", "drops.E001"]


def test_a_visibility_timeout_under_the_hard_limit_is_only_a_warning(settings):
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "visibility_timeout": 10}
    [warning] = drops_clocks()
    assert warning.id == "drops.W001"
    assert not warning.is_serious()


def test_manage_py_check_fails_naming_the_limit(settings):
    settings.DROPS_CHUNK_SECONDS = 500
    with pytest.raises(SystemCheckError, match=r"DROPS_CHUNK_SECONDS \(500\) must be less than"):
        call_command("check")


@pytest.mark.integration
def test_a_worker_whose_clocks_do_not_fit_refuses_to_start():
    env = {"DEBUG": "1", "DROPS_CHUNK_SECONDS": "500"}
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "musicdrops", "worker", "-Q", "drops", "--without-mingle",
         "--without-gossip", "-c", "1"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Refusing to start: DROPS_CHUNK_SECONDS (500) must be less than CELERY_TASK_SOFT_TIME_LIMIT" in done.stderr
