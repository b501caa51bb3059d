from celery import signals
from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "musicdrops.ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from musicdrops.connections import refuse_over_budget  # registers the Redis budget's system check
        from musicdrops.ops.redis_memory import warn_if_redis_may_evict

        # Workers and the beat run no Django checks of their own: the Redis budget refuses them here.
        signals.worker_init.connect(refuse_over_budget, weak=False)
        signals.beat_init.connect(refuse_over_budget, weak=False)

        # Each worker and the beat say at start when Redis could evict what must not be lost.
        signals.worker_ready.connect(warn_if_redis_may_evict, weak=False)
        signals.beat_init.connect(warn_if_redis_may_evict, weak=False)
