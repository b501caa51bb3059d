import pytest
from django.conf import settings
from redbeat.schedulers import RedBeatSchedulerEntry

from musicdrops.celery import app


@pytest.fixture
def entries() -> list[str]:
    """The configured entries, written to Redis as a starting beat writes them."""
    for name, spec in settings.CELERY_BEAT_SCHEDULE.items():
        RedBeatSchedulerEntry(name=name, app=app, **spec).save()
    return list(settings.CELERY_BEAT_SCHEDULE)
