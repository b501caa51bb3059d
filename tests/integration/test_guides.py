"""Each guide in docs/guides/ is followed to the letter: its diffs applied to a copy of the project,
then the commands under its "Check it" heading run there, with the copy's own tests and processes."""

import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.copies import ROOT, copy_repository, run_in

pytestmark = pytest.mark.integration

GUIDES = sorted((ROOT / "docs" / "guides").glob("*.md"))
DIFF_BLOCK = re.compile(r"^```diff\n(.*?)^```$", re.MULTILINE | re.DOTALL)
PYTEST_COMMAND = re.compile(r"^\.venv/bin/python (-m pytest .*)$", re.MULTILINE)


def guide_patch(guide: Path) -> str:
    """The guide's diff blocks, in order, as one patch. An editor may have stripped the space
    that marks a blank context line; put it back."""
    blocks = DIFF_BLOCK.findall(guide.read_text())
    return "".join("\n".join(line or " " for line in block.rstrip("\n").split("\n")) + "\n" for block in blocks)


def check_commands(guide: Path) -> list[list[str]]:
    section = guide.read_text().partition("## Check it")[2]
    return [command.split() for command in PYTEST_COMMAND.findall(section)]


def test_there_are_guides_each_with_a_diff_and_a_check():
    assert {guide.stem for guide in GUIDES} >= {"add-a-periodic-task", "add-a-queue", "add-an-email"}
    for guide in GUIDES:
        assert guide_patch(guide), guide.name
        assert check_commands(guide), guide.name


@pytest.mark.parametrize("guide", GUIDES, ids=lambda guide: guide.stem)
def test_following_the_guide_gives_a_project_whose_checks_pass(guide, tmp_path):
    copy = copy_repository(tmp_path / "project")

    applied = subprocess.run(
        ["git", "apply", "--verbose", "-"], cwd=copy, input=guide_patch(guide), capture_output=True, text=True
    )
    assert applied.returncode == 0, f"the guide's diffs no longer apply:\n{applied.stderr}"

    for command in check_commands(guide):
        result = run_in(copy, *command, "-q", "-p", "no:cacheprovider", timeout=600)
        summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
        print(f"{guide.stem}: {' '.join(command)}: {summary}")
        assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]


def test_a_queue_added_by_the_queue_guide_is_pinged_measured_and_reported_stuck_like_the_others(tmp_path):
    guide = ROOT / "docs" / "guides" / "add-a-queue.md"
    copy = copy_repository(tmp_path / "project")
    applied = subprocess.run(["git", "apply", "-"], cwd=copy, input=guide_patch(guide), capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr

    result = run_in(
        copy, "-m", "pytest", "-v", "-p", "no:cacheprovider",
        "tests/ops/test_celery_config.py::test_every_queue_gets_a_ping_that_nothing_consumes_but_a_worker_of_that_queue",
        "tests/ops/test_healthz.py::test_every_queue_is_measured_and_stuck_while_nobody_takes_its_pings",
        "tests/integration/test_queue_pings.py",
        timeout=600,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert "test_every_queue_is_measured_and_stuck_while_nobody_takes_its_pings[musicbrainz] PASSED" in result.stdout
