"""The Celery app. Its configuration is the CELERY_* (and RedBeat's REDBEAT_*) settings in settings.py."""

import os

from celery import Celery

from musicdrops.lib.logs import configure_celery_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "musicdrops.settings")

app = Celery("musicdrops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
configure_celery_logging()  # worker and beat log through settings.LOGGING: task id, entry and slot on every line
