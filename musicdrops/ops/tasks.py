from celery import shared_task


@shared_task
def ping_queue_task() -> None:
    """Periodic, one per queue: does nothing, and that is the point.

    Its message waits in its queue until a worker takes it, so a queue that
    nobody consumes (every worker for it dead, or never started) shows an
    ever older message, and /healthz says "queue-stuck" once it is older than
    QUEUE_AGE_ALERT_SECONDS — even when no real work happens to be queued.
    Safe twice: it changes nothing.
    """
