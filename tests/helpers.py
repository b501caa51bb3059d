"""Small helpers shared by the tests."""

import json
import re

import redis
from django.core import mail

LINK = re.compile(r"https?://\S+")


def queued_tasks(client: redis.Redis, queue: str) -> list[str]:
    """Names of the tasks waiting in a Celery queue on Redis, oldest first."""
    return [json.loads(raw)["headers"]["task"] for raw in reversed(client.lrange(queue, 0, -1))]


def last_link(outbox: list[mail.EmailMessage]) -> str:
    """The first link in the plain-text body of the newest email."""
    match = LINK.search(str(outbox[-1].body))
    assert match, outbox[-1].body
    return match.group(0)
