from celery import signals
from django.apps import AppConfig


class SchedulerConfig(AppConfig):
    name = "musicdrops.scheduler"
    verbose_name = "Scheduler"

    def ready(self) -> None:
        from musicdrops.scheduler import slots

        signals.task_prerun.connect(slots.log_dispatch_start, weak=False)
        signals.task_postrun.connect(slots.log_dispatch_end, weak=False)
