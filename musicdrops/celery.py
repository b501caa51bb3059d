"""The Celery app. Its configuration is the CELERY_* block of settings.py."""

import os

from celery import Celery

from musicdrops.lib.logs import install_in_celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "musicdrops.settings")

app = Celery("musicdrops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
install_in_celery()  # worker and beat log lines carry task id, entry and slot
