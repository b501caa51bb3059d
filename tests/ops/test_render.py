"""render.yaml (Render's Blueprint) runs what the Procfile runs, with what app.json asks for.

Checked as data, as Render reads it: the same process types and commands, every setting of
the Heroku button with the same value, and the database and Key Value wired into each service.
"""

import re
from pathlib import Path
from typing import Any

import yaml

from tests.ops.test_compose import app_services
from tests.ops.test_deploy_files import app_json, procfile

ROOT = Path(__file__).resolve().parents[2]
# Differs by platform: the host names each platform gives its apps.
PER_PLATFORM = {"ALLOWED_HOSTS", "REDIS_MAX_CONNECTIONS"}  # the Redis plans differ


def blueprint() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "render.yaml").read_text())
    return data


def app_services_on_render() -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in blueprint()["services"] if s["type"] in {"web", "worker"}}


def settings_group() -> dict[str, dict[str, Any]]:
    [group] = blueprint()["envVarGroups"]
    return {entry["key"]: entry for entry in group["envVars"]}


def test_every_name_of_a_process_type_is_safe_on_heroku_fir_and_cedar_and_the_same_everywhere():
    long_running = set(procfile()) - {"release"}
    names = {
        "Procfile": set(procfile()),
        "app.json formation": set(app_json()["formation"]),
        "compose.yaml": set(app_services()),
        "render.yaml": set(app_services_on_render()),
    }
    for where, found in names.items():
        assert all(re.fullmatch(r"[a-z][a-z0-9-]*", name) for name in found), (where, found)
    assert names["app.json formation"] == names["render.yaml"] == long_running
    assert names["compose.yaml"] == names["Procfile"]


def test_each_service_runs_its_procfile_command_and_web_migrates_before_it_starts():
    processes = procfile()
    for name, service in app_services_on_render().items():
        assert service["startCommand"] == processes[name], name
        assert service["runtime"] == "python"
    web = app_services_on_render()["web"]
    assert web["type"] == "web"
    assert web["preDeployCommand"] == processes["release"]
    assert web["healthCheckPath"] == "/healthz"
    assert "collectstatic" in web["buildCommand"]
    assert {s["type"] for name, s in app_services_on_render().items() if name != "web"} == {"worker"}


def test_the_settings_group_holds_every_setting_of_the_heroku_button_with_the_same_value():
    group = settings_group()
    for key, spec in app_json()["env"].items():
        assert key in group, key
        if key in PER_PLATFORM:
            continue
        if spec.get("generator") == "secret":
            assert group[key] == {"key": key, "generateValue": True}
        elif "value" in spec:
            assert group[key].get("value") == spec["value"], key
        else:
            assert group[key].get("sync") is False, f"{key}: asked for at deploy time, as app.json asks"
    assert set(group) == set(app_json()["env"])
    assert group["ALLOWED_HOSTS"]["value"] == ".onrender.com"


def test_every_service_gets_the_database_the_key_value_store_and_the_shared_settings():
    databases = {d["name"] for d in blueprint()["databases"]}
    stores = {s["name"]: s for s in blueprint()["services"] if s["type"] == "keyvalue"}
    for name, service in app_services_on_render().items():
        wiring = {entry.get("key", "group"): entry for entry in service["envVars"]}
        assert wiring["DATABASE_URL"]["fromDatabase"]["name"] in databases, name
        assert wiring["DATABASE_URL"]["fromDatabase"]["property"] == "connectionString"
        assert wiring["REDIS_URL"]["fromService"]["name"] in stores, name
        assert wiring["REDIS_URL"]["fromService"]["type"] == "keyvalue"
        assert wiring["group"] == {"fromGroup": "musicdrops-settings"}


def test_the_key_value_store_never_evicts_a_key_without_an_expiry():
    [store] = [s for s in blueprint()["services"] if s["type"] == "keyvalue"]
    assert store["maxmemoryPolicy"] in {"volatile-lfu", "noeviction"}
    assert store["ipAllowList"] == [], "only the Blueprint's own services reach it"


def test_the_readme_has_a_deploy_to_render_button_for_this_repository():
    readme = (ROOT / "README.md").read_text()
    assert f"(https://render.com/deploy?repo={app_json()['repository']})" in readme
