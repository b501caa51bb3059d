"""The send's clocks must fit together: checked by ``manage.py check``, the release phase's ``migrate``, and workers."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def drops_clocks(**_: Any) -> list[Error | Warning]:
    chunk, lease = settings.DROPS_CHUNK_SECONDS, settings.DROPS_LEASE_SECONDS
    soft, hard = settings.CELERY_TASK_SOFT_TIME_LIMIT, settings.CELERY_TASK_TIME_LIMIT
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    positive = {
        name: getattr(settings, name)
        for name in (
            "DROPS_CHUNK_SECONDS",
            "DROPS_LEASE_SECONDS",
            "DROPS_PICKUP_SECONDS",
            "DROPS_SWEEP_SECONDS",
            "DROPS_FAN_OUT_STALL_SECONDS",
            "DROPS_OVERDUE_SECONDS",
            "DROPS_RETRY_HOURS",
            "DROPS_RETRY_BACKOFF_MAX",
        )
    }
    found: list[Error | Warning] = [
        Error(f"{name} is {value}: it must be a positive number.", id="drops.E001")
        for name, value in positive.items()
        if value <= 0
    ]
    if found:
        return found
    if chunk >= soft:
        found.append(
            Error(
                f"DROPS_CHUNK_SECONDS ({chunk}) must be less than CELERY_TASK_SOFT_TIME_LIMIT ({soft}):"
                " a chunk hands its unsent users on before Celery's soft time limit stops it.",
                id="drops.E002",
            )
        )
    if lease <= chunk:
        found.append(
            Error(
                f"DROPS_LEASE_SECONDS ({lease}) must be more than DROPS_CHUNK_SECONDS ({chunk}):"
                " a claim must outlast the chunk that holds it, and its last slow message.",
                id="drops.E003",
            )
        )
    if soft >= hard:
        found.append(
            Error(
                f"CELERY_TASK_SOFT_TIME_LIMIT ({soft}) must be less than CELERY_TASK_TIME_LIMIT ({hard}):"
                " a task gets the soft limit's exception, and time to hand its work back, before it is killed.",
                id="drops.E004",
            )
        )
    if visibility <= hard:
        # A warning, not an error: the ledger's fence still sends each email once (the drills set it short on purpose).
        found.append(
            Warning(
                f"BROKER_VISIBILITY_TIMEOUT ({visibility}) should be more than CELERY_TASK_TIME_LIMIT ({hard}):"
                " a message still running when it becomes visible again is handed to a second worker.",
                id="drops.W001",
            )
        )
    return found


def refuse_bad_clocks(**_: Any) -> None:
    """Stop a worker or beat whose clocks do not fit; SystemExit, as Celery swallows a signal handler's Exception."""
    if errors := [check.msg for check in drops_clocks() if check.is_serious()]:
        raise SystemExit("Refusing to start: " + " ".join(errors))
