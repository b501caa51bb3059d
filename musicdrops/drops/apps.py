from celery import signals
from django.apps import AppConfig


class DropsConfig(AppConfig):
    name = "musicdrops.drops"
    verbose_name = "Daily drops"

    def ready(self) -> None:
        from musicdrops.drops import checks  # registers the clocks' system check with Django

        # Django runs its checks in commands (the release phase's migrate); workers and the beat run them here.
        signals.worker_init.connect(checks.refuse_bad_clocks, weak=False)
        signals.beat_init.connect(checks.refuse_bad_clocks, weak=False)
