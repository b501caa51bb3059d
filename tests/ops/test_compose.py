"""compose.yaml agrees with the Procfile, the Dockerfile and the settings.

There is no Docker engine here (nor in CI): the file is checked as data,
and its environment is loaded by the real settings in a fresh interpreter.
"""

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.ops.test_deploy_files import final_stage, procfile, settings_env_names
from tests.ops.test_settings import run_django

ROOT = Path(__file__).resolve().parents[2]
INFRASTRUCTURE = {"db", "redis", "mailpit"}
# Read elsewhere than the settings' env_* helpers: the Procfile lines, gunicorn.conf.py, dj-database-url.
OTHER_READERS = {"PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS", "REGULAR_CONCURRENCY", "IMPORTANT_CONCURRENCY"}
OTHER_READERS |= {"DATABASE_URL"}


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def app_services() -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in services().items() if name not in INFRASTRUCTURE}


def shell_line(spec: dict[str, Any]) -> str:
    """The command bash runs, as the Procfile writes it ($$ is Compose's escape for a literal $)."""
    command = spec["command"]
    assert command[:2] == ["bash", "-c"], "run by bash, as Heroku runs a Procfile line"
    line: str = command[2]
    return line.replace("$$", "$")


def environment() -> dict[str, str]:
    env: dict[str, str] = compose()["x-app"]["environment"]
    return env


def test_every_procfile_process_type_is_a_service_with_the_same_command():
    processes = procfile()

    assert set(app_services()) == set(processes)
    for name, spec in app_services().items():
        assert shell_line(spec) == processes[name], name


def test_one_image_built_from_the_dockerfile_runs_every_process_type():
    images = {(spec["image"], yaml.safe_dump(spec["build"])) for spec in app_services().values()}

    assert len(images) == 1
    [(_, build)] = images
    assert yaml.safe_load(build)["context"] == "."
    assert (ROOT / "Dockerfile").exists()


def test_app_processes_start_after_healthy_backing_services_and_the_release_step():
    for name, spec in app_services().items():
        depends = spec["depends_on"]
        assert depends["db"]["condition"] == "service_healthy", name
        if name == "release":
            continue
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["release"]["condition"] == "service_completed_successfully", name
    assert services()["release"]["restart"] == "no"


def test_every_long_running_service_has_a_healthcheck():
    dockerfile_healthcheck = any(keyword == "HEALTHCHECK" for keyword, _ in final_stage())
    for name, spec in services().items():
        if name == "release":
            continue  # runs once and exits
        if name == "web":
            assert dockerfile_healthcheck, "web relies on the image's HEALTHCHECK"
            assert "healthcheck" not in spec
            continue
        assert spec["healthcheck"]["test"], name


def test_worker_healthchecks_ping_their_own_node_name():
    for name in ("worker-regular", "worker-drops", "worker-important"):
        queue = name.removeprefix("worker-")
        assert f"--hostname {queue}@%h" in shell_line(services()[name])
        assert f"--destination {queue}@$$HOSTNAME" in services()[name]["healthcheck"]["test"][1]


def test_every_variable_is_one_the_settings_or_the_processes_read():
    assert set(environment()) - settings_env_names() - OTHER_READERS == set()


def test_the_urls_point_at_the_services_with_their_credentials():
    env, db = environment(), services()["db"]["environment"]

    database = urlsplit(env["DATABASE_URL"])
    assert (database.hostname, database.port, database.path) == ("db", 5432, "/" + db["POSTGRES_DB"])
    assert (database.username, database.password) == (db["POSTGRES_USER"], db["POSTGRES_PASSWORD"])
    assert urlsplit(env["REDIS_URL"]).hostname == "redis"
    assert (urlsplit(env["EMAIL_URL"]).hostname, urlsplit(env["EMAIL_URL"]).port) == ("mailpit", 1025)


def test_the_settings_start_with_this_environment():
    # Compose expands ${SECRET_KEY:-...}; here the default stands in for it.
    env = {key: value.split(":-", 1)[1].rstrip("}") if value.startswith("${") else value
           for key, value in environment().items()}  # fmt: skip
    result = run_django(
        "from django.conf import settings as s\n"
        "assert not s.DEBUG and not s.SECURE_SSL_REDIRECT\n"
        "print(s.DATABASES['default']['HOST'], s.REDIS_URL, s.MAILERS['default']['OPTIONS']['host'])",
        **env,
    )

    assert result.stdout.split() == ["db", "redis://redis:6379/0", "mailpit"], result.stderr


@pytest.mark.parametrize("service", ["db", "redis", "mailpit"])
def test_backing_service_images_are_pinned(service):
    image = services()[service]["image"]

    assert ":" in image
    assert not image.endswith(":latest")


def test_redis_never_evicts_a_key_without_an_expiry():
    command = services()["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] in {"volatile-lfu", "noeviction"}
