from django.apps import AppConfig


class SchedulerConfig(AppConfig):
    name = "musicdrops.scheduler"
    verbose_name = "Scheduler"
