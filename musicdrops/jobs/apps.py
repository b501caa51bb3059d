from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "musicdrops.jobs"
    verbose_name = "Jobs people watch"
