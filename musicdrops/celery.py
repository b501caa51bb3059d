"""The Celery app. Its configuration is the CELERY_* block of settings.py."""

import os
from typing import Any

from celery import Celery

from musicdrops.lib.logs import configure_celery_logging
from musicdrops.ops import publish_time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "musicdrops.settings")

app = Celery("musicdrops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
configure_celery_logging()  # worker and beat log through settings.LOGGING: task id, entry and slot on every line
publish_time.install()  # every message says when it was published: /healthz reports how long queues wait


@app.on_after_configure.connect
def _show_redbeat_its_settings(sender: Celery, source: Any, **kwargs: Any) -> None:
    """Give the CELERY_REDBEAT_* settings the bare names RedBeat looks for too.

    RedBeat reads its settings through the CELERY_ namespace, but decides
    whether one is set by looking for its bare name (``redbeat_redis_url``)
    among the configuration's keys, where Django's appear with the prefix.
    Without this it warns that it falls back to the broker's settings, and
    drops CELERY_REDBEAT_REDIS_OPTIONS (its client's time-outs).
    """
    prefix = "CELERY_REDBEAT_"
    source.update({key.removeprefix("CELERY_").lower(): source[key] for key in source if key.startswith(prefix)})
