"""The deploy files agree with each other and with the settings.

The Procfile, app.json (Heroku) and the Dockerfile describe the same processes
and the same environment. Nothing checks them until a deploy goes wrong, so
these tests do: no database, no Docker engine needed.
"""

import ast
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from musicdrops.ops.procfile import read_procfile

ROOT = Path(__file__).resolve().parents[2]
ENV_HELPERS = {"env_str", "env_bool", "env_int", "env_list"}
# Read by the settings but deliberately not on the Heroku button: the platform
# or an add-on sets them, or production should keep the default.
NOT_IN_APP_JSON = {
    "DATABASE_URL",  # the heroku-postgresql add-on
    "REDIS_URL",  # the heroku-redis add-on
    "HEROKU_RELEASE_VERSION",  # dyno metadata
    "HEROKU_SLUG_COMMIT",  # dyno metadata
    "SOURCE_VERSION",  # set during the build
    "RELEASE",  # the same, for platforms other than Heroku
    "DATABASE_CONN_MAX_AGE",
    "DATABASE_STATEMENT_TIMEOUT_MS",  # gunicorn.conf.py sets it for web; workers keep none
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "MUSIC_DROPS_EVERY_SECONDS",  # drills and tests only, never a deployment setting
    "SAFE_HTTP_ALLOW_HTTP",  # development and tests only: a deployment fetches fans' URLs over https
    "SAFE_HTTP_ALLOW_LOOPBACK",  # tests' local push servers only
}


def procfile() -> dict[str, str]:
    return read_procfile()


def app_json() -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((ROOT / "app.json").read_text())
    return manifest


def settings_env_names() -> set[str]:
    """Names passed to env_str/env_bool/env_int/env_list in settings.py, read from its source."""
    tree = ast.parse((ROOT / "musicdrops" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        helper = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        first = node.args[0]
        if helper in ENV_HELPERS and isinstance(first, ast.Constant) and isinstance(first.value, str):
            names.add(first.value)
    return names


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # Docker drops comment lines even inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def base_images() -> list[str]:
    """Images the stages start from, leaving out earlier stages used as bases."""
    images, stages = [], set()
    for keyword, arguments in dockerfile():
        if keyword != "FROM":
            continue
        words = [word for word in arguments.split() if not word.startswith("--platform")]
        if len(words) == 3 and words[1].upper() == "AS":
            stages.add(words[2])
        if words[0] not in stages:
            images.append(words[0])
    return images


def healthcheck_command() -> list[str]:
    healthchecks = [arguments for keyword, arguments in final_stage() if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1, "the final stage needs exactly one HEALTHCHECK"
    _, _, command = healthchecks[0].partition("CMD ")
    exec_form: list[str] = json.loads(command)
    return exec_form


def worker_queues(command: str) -> list[str]:
    args = shlex.split(command)
    return [args[i + 1] for i, arg in enumerate(args) if arg in {"--queues", "-Q"}]


# --- Procfile ------------------------------------------------------------------


def test_procfile_declares_every_process_type():
    assert {"release", "web", "beat", "worker-regular", "worker-drops", "worker-important"} <= set(procfile())


@pytest.mark.parametrize(
    ("process", "queue"),
    [
        ("worker-regular", settings.QUEUE_REGULAR),
        ("worker-important", settings.QUEUE_IMPORTANT),
        ("worker-drops", settings.QUEUE_DROPS),
    ],
)
def test_each_worker_consumes_only_the_queue_it_is_named_for(process, queue):
    command = procfile()[process]

    # Heroku signals every process of a dyno with SIGTERM: the worker must treat it as a cold
    # shutdown (soft shutdown first, then requeue), not a warm one that waits for tasks forever.
    assert shlex.split(command)[:5] == ["REMAP_SIGTERM=SIGQUIT", "celery", "-A", "musicdrops", "worker"]
    assert worker_queues(command) == [queue]
    assert process == f"worker-{queue}"


def test_every_celery_queue_has_a_worker():
    consumed = {queue for command in procfile().values() for queue in worker_queues(command)}

    assert consumed == {queue.name for queue in settings.CELERY_TASK_QUEUES}


# --- app.json --------------------------------------------------------------------


def test_formation_lists_exactly_the_long_running_procfile_processes():
    # release runs once per deploy, before the new dynos start: it is no dyno of its own.
    assert set(app_json()["formation"]) == set(procfile()) - {"release"}


def test_every_environment_variable_the_settings_read_is_in_app_json():
    read = settings_env_names()
    declared = set(app_json()["env"])

    assert "SECRET_KEY" in read, "the settings parser found no env_* calls"
    assert read - declared - NOT_IN_APP_JSON == set()


def test_platform_provided_variables_are_not_in_app_json():
    # Declaring one would make the button ask for (and override) what an add-on sets.
    assert NOT_IN_APP_JSON & set(app_json()["env"]) == set()


def test_every_app_json_variable_is_described_and_says_whether_it_is_required():
    for name, spec in app_json()["env"].items():
        assert spec.get("description"), name
        if "generator" not in spec:
            # Heroku treats a missing "required" as true: spell it out.
            assert isinstance(spec.get("required"), bool), name


def test_secret_key_is_generated_per_app():
    secret_key = app_json()["env"]["SECRET_KEY"]

    assert secret_key["generator"] == "secret"
    assert "value" not in secret_key


def test_app_json_name_fits_herokus_limit():
    assert 0 < len(app_json()["name"]) <= 30


def test_app_json_provisions_postgres_and_redis():
    plans = {addon if isinstance(addon, str) else addon["plan"] for addon in app_json()["addons"]}

    # premium-2: the formation, Flower and an inspect at the most (musicdrops/connections.py, measured).
    assert {"heroku-postgresql:essential-0", "heroku-redis:premium-2"} <= plans


def test_app_json_never_seeds_the_demo_login():
    # seed_demo creates a user with a published password: fine locally, not on a public app.
    assert "seed_demo" not in json.dumps(app_json().get("scripts", {}))


# --- Dockerfile ------------------------------------------------------------------


def test_docker_image_runs_as_a_non_root_user():
    users = [arguments for keyword, arguments in final_stage() if keyword == "USER"]

    assert users, "the final stage never leaves root"
    assert users[-1].partition(":")[0] not in {"root", "0"}


def test_docker_default_command_is_the_procfile_web_process():
    commands = [arguments for keyword, arguments in final_stage() if keyword == "CMD"]

    assert commands, "the final stage has no CMD"
    assert json.loads(commands[-1]) == shlex.split(procfile()["web"])


def test_docker_base_images_are_slim_python():
    images = base_images()

    assert images
    for image in images:
        assert re.fullmatch(r"python:\d+\.\d+-slim(-[a-z]+)?", image), image


def test_python_version_file_matches_the_docker_image():
    major_minor = ".".join((ROOT / ".python-version").read_text().strip().split(".")[:2])
    docker_versions = {image.removeprefix("python:").partition("-")[0] for image in base_images()}

    assert docker_versions == {major_minor}


def test_docker_image_keeps_no_secret_key():
    # The build's throwaway key lives in one RUN line; ENV or ARG would bake it into the image.
    for keyword, arguments in dockerfile():
        if keyword in {"ENV", "ARG"}:
            assert "SECRET_KEY" not in arguments


def test_dockerignore_lets_in_only_what_the_image_runs():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    allowed = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}

    assert patterns[0] == "*", "an allow-list keeps whatever is added to the checkout later out of the image"
    assert {"manage.py", "gunicorn.conf.py", "requirements.txt", "musicdrops", "templates", "static"} <= allowed
    assert allowed & {"tests", ".venv", ".git", "var", "staticfiles", "scripts"} == set()


# --- The Docker HEALTHCHECK, run here against a stand-in web process ------------------


@pytest.fixture
def web_answering() -> Iterator[tuple[int, list[str], list[int]]]:
    """A local HTTP server on a free port; tests pick its status and see the paths asked for."""
    status: list[int] = [200]
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            self.send_response(status[0])
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], paths, status
    finally:
        server.shutdown()
        server.server_close()


def run_healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    command = healthcheck_command()
    assert command[0] == "python"
    # A proxy variable in the container's environment must not send the probe elsewhere.
    env = {**os.environ, "PORT": str(port), "http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    return subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("answer", [200, 503, 400])
def test_docker_healthcheck_counts_any_http_answer_as_alive(web_answering, answer):
    # 503: no beat alive; 400: Host not in ALLOWED_HOSTS. The web process serves either way.
    port, paths, status = web_answering
    status[0] = answer

    result = run_healthcheck(port)

    assert result.returncode == 0, result.stderr
    assert paths == ["/healthz"]


def test_docker_healthcheck_fails_when_nothing_listens():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once the socket closes

    assert run_healthcheck(port).returncode != 0
