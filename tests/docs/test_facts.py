"""What the docs say about queues, process types and Redis policies is what the code and deploy files do.

The citations test (test_docs.py) checks that what a page names exists; this one checks what it
says of it: how many workers and queues there are, which queue a process consumes, and which
eviction policy a deploy file gives its Redis. The connection counts per process are measured
from real processes in tests/integration/test_redis_connections.py.
"""

import json
import re

import pytest
import yaml
from django.conf import settings

from musicdrops.ops.procfile import read_procfile
from tests.docs.test_docs import PAGES, ROOT, added_text, page_id, text

QUEUES = [queue.name for queue in settings.CELERY_TASK_QUEUES]
PROCESSES = read_procfile(ROOT / "Procfile")
WORKERS = sorted(name for name in PROCESSES if name.startswith("worker-"))
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "both": 2}
# "three workers", "two worker queues", "both workers": a count of the app's own workers or queues.
COUNTED = re.compile(r"\b(one|two|three|four|five|six|both)\s+(?:worker\s+)?(workers|queues)\b", re.IGNORECASE)
WORKER_NAME = re.compile(r"(?<![\w-])worker-[a-z0-9-]+")
QUEUE_NAMED = re.compile(r"`(\w+)` queue\b")
COMPOSE_POLICY = re.compile(r"--maxmemory-policy\s+([a-z-]+)")
RENDER_POLICY = re.compile(r"maxmemoryPolicy:\s*([a-z-]+)")
DEPLOY_TEXTS = {"app.json": json.loads((ROOT / "app.json").read_text())["description"]}


def compose_policy() -> str:
    command = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["redis"]["command"]
    return str(command[command.index("--maxmemory-policy") + 1])


def render_policy() -> str:
    services = yaml.safe_load((ROOT / "render.yaml").read_text())["services"]
    return str(next(s["maxmemoryPolicy"] for s in services if s.get("type") == "keyvalue"))


def pages_and_texts() -> list[tuple[str, str]]:
    return [(page_id(page), text(page)) for page in PAGES] + list(DEPLOY_TEXTS.items())


@pytest.mark.parametrize(("name", "body"), pages_and_texts(), ids=[name for name, _ in pages_and_texts()])
def test_every_count_of_workers_or_queues_is_the_real_one(name, body):
    wrong = [m.group(0) for m in COUNTED.finditer(body) if NUMBERS[m.group(1).lower()] != len(QUEUES)]
    assert not wrong, f"{name} counts {wrong}, but there are {len(QUEUES)} queues, each with its worker"


@pytest.mark.parametrize(("name", "body"), pages_and_texts(), ids=[name for name, _ in pages_and_texts()])
def test_every_worker_and_queue_named_exists(name, body):
    added = added_text(ROOT / name) if name.endswith(".md") else ""  # a guide's diff adds a worker of its own
    unknown_workers = set(WORKER_NAME.findall(body)) - set(WORKERS) - set(WORKER_NAME.findall(added))
    unknown_queues = set(QUEUE_NAMED.findall(body)) - set(QUEUES) - set(QUEUE_NAMED.findall(added))
    assert not unknown_workers, f"{name} names worker process types the Procfile lacks: {unknown_workers}"
    assert not unknown_queues, f"{name} names queues CELERY_TASK_QUEUES lacks: {unknown_queues}"


def test_each_worker_is_named_for_the_queue_it_consumes():
    for worker in WORKERS:
        assert f"--queues {worker.removeprefix('worker-')} " in PROCESSES[worker] + " "


@pytest.mark.parametrize(("name", "body"), pages_and_texts(), ids=[name for name, _ in pages_and_texts()])
def test_every_redis_policy_a_page_gives_a_deploy_file_is_the_one_it_sets(name, body):
    assert set(COMPOSE_POLICY.findall(body)) <= {compose_policy()}, f"{name}: compose.yaml sets {compose_policy()}"
    assert set(RENDER_POLICY.findall(body)) <= {render_policy()}, f"{name}: render.yaml sets {render_policy()}"
