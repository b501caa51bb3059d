from celery import shared_task

from musicdrops.ops import health


@shared_task
def ping_queue_task(queue: str) -> None:
    """Periodic, one per queue (musicdrops/scheduler/schedule.py): says that a worker took from ``queue``.

    A queue whose pings nobody takes (every worker for it dead, or never started, or a backlog older
    than the ping's expiry) is "queue-stuck" in /healthz, even when no real work happens to be queued.
    Safe twice: it records the time it ran.
    """
    health.queue_ping_taken(queue=queue)
