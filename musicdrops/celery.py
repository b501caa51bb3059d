"""The Celery app. Its configuration is the CELERY_* block of settings.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "musicdrops.settings")

app = Celery("musicdrops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
