"""`make image-test`: the production image built, and every process type run from it.

Needs docker or podman (and, for podman, the base image or a registry to pull it from);
without them this is skipped, saying so. The script itself skips its run part where
containers cannot run and the image's filesystem cannot be entered either.
"""

import subprocess
import sys

import pytest

from scripts.image import working_engine
from tests.integration.processes import ROOT, child_env, database_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_every_process_type_runs_from_the_image():
    engine = working_engine()
    if engine is None:
        pytest.skip("no working docker or podman here: the image cannot be built")
    base = subprocess.run([engine, "image", "exists", "docker.io/library/python:3.13-slim-bookworm"])
    if engine.endswith("podman") and base.returncode != 0:
        pytest.skip("podman has no python:3.13-slim-bookworm (../shared/tools/stand-in-base-image.sh builds one)")
    server = database_url().rsplit("/", 1)[0] + "/postgres"
    result = subprocess.run(
        [sys.executable, "scripts/image.py", "test"],
        cwd=ROOT,
        env=child_env(DATABASE_URL=server),
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = result.stdout[result.stdout.find("make image-test:") :]
    print(report)
    assert result.returncode == 0, report + result.stderr[-3000:]
    assert "make image-test: passed" in report or "the run part is skipped" in report
