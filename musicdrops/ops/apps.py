from celery import signals
from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "musicdrops.ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from musicdrops.ops.redis_memory import warn_if_redis_may_evict

        # Each worker and the beat say at start when Redis could evict what must not be lost.
        signals.worker_ready.connect(warn_if_redis_may_evict, weak=False)
        signals.beat_init.connect(warn_if_redis_may_evict, weak=False)
