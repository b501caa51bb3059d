"""scripts/rename.py on a small project of its own: every form of the name, and the refusals.

The whole repository renamed, with the copy's own test suite run, is
tests/integration/test_rename.py.
"""

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("rename_script", ROOT / "scripts" / "rename.py")
assert _spec is not None
assert _spec.loader is not None
rename_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rename_script)

NEW = rename_script.Names(package="zine_press", display="Zine Press")
SETTINGS = """\
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "musicdrops.settings")
KEY = "musicdrops:rejected-messages"
USER_AGENT = "MusicDrops/1.0 ( https://musicdrops.example.com )"
FROM = "MusicDrops <drops@musicdrops.local>"
BROWSER = os.environ.get("MUSICDROPS_REQUIRE_BROWSER")
"""


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=root, check=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "musicdrops" / "lib").mkdir(parents=True)
    (root / "musicdrops" / "__init__.py").write_text('"""MusicDrops."""\n')
    (root / "musicdrops" / "lib" / "__init__.py").write_text("")
    (root / "musicdrops" / "settings.py").write_text(SETTINGS)
    (root / "musicdrops" / "celery.py").write_text('from celery import Celery\n\napp = Celery("musicdrops")\n')
    (root / "pyproject.toml").write_text('[project]\nname = "musicdrops"\ndescription = "Old words."\n')
    (root / "app.json").write_text(
        '{\n  "name": "MusicDrops",\n  "description": "Old words.",\n'
        '  "repository": "https://github.com/musicdrops/musicdrops"\n}\n'
    )
    (root / "Procfile").write_text("beat: celery -A musicdrops beat\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0musicdrops\0")
    (root / "var").mkdir()
    (root / "var" / "notes.txt").write_text("musicdrops")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    return root


def test_every_form_of_the_name_is_replaced_and_the_package_moved(project, capsys):
    assert rename_script.rename(project, NEW, description="New words.") == 0

    assert not (project / "musicdrops").exists()
    assert (project / "zine_press" / "lib" / "__init__.py").exists()
    assert (project / "zine_press" / "settings.py").read_text() == (
        "import os\n\n"
        'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zine_press.settings")\n'
        'KEY = "zine_press:rejected-messages"\n'
        'USER_AGENT = "ZinePress/1.0 ( https://zine-press.example.com )"\n'
        'FROM = "Zine Press <drops@zine-press.local>"\n'
        'BROWSER = os.environ.get("ZINE_PRESS_REQUIRE_BROWSER")\n'
    )
    assert 'Celery("zine_press")' in (project / "zine_press" / "celery.py").read_text()
    assert (project / "Procfile").read_text() == "beat: celery -A zine_press beat\n"
    manifest = json.loads((project / "app.json").read_text())
    assert manifest == {
        "name": "Zine Press",
        "description": "New words.",
        "repository": "https://github.com/zine-press/zine-press",
    }
    assert 'name = "zine_press"\ndescription = "New words."' in (project / "pyproject.toml").read_text()
    # Binary files and var/ are left alone, and a binary file that names the old package is reported.
    assert b"musicdrops" in (project / "logo.png").read_bytes()
    assert (project / "var" / "notes.txt").read_text() == "musicdrops"
    assert "left alone, binary: logo.png" in capsys.readouterr().out


def test_a_second_run_with_the_same_name_says_so_and_changes_nothing(project, capsys):
    rename_script.rename(project, NEW)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "renamed")
    capsys.readouterr()

    assert rename_script.rename(project, NEW) == 0

    assert "Already named zine_press (Zine Press): nothing to do." in capsys.readouterr().out
    status = subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True, check=True)
    assert status.stdout == ""


def test_uncommitted_changes_are_refused_unless_forced(project):
    (project / "Procfile").write_text("beat: celery -A musicdrops beat --loglevel INFO\n")

    with pytest.raises(rename_script.RenameError, match="uncommitted changes"):
        rename_script.rename(project, NEW)
    assert (project / "musicdrops").exists()

    rename_script.rename(project, NEW, force=True)
    assert (project / "Procfile").read_text() == "beat: celery -A zine_press beat --loglevel INFO\n"


def test_without_git_it_needs_force(project):
    subprocess.run(["rm", "-rf", str(project / ".git")], check=True)

    with pytest.raises(rename_script.RenameError, match="not a git checkout"):
        rename_script.rename(project, NEW)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("celery", "installed module"),
        ("django", "installed module"),
        ("redis", "installed module"),
        ("yaml", "installed module"),  # PyYAML: the module's name, not the distribution's
        ("json", "standard library"),
        ("test", "standard library"),
        ("tests", "standard library"),
        ("class", "keyword"),
        ("match", "keyword"),
        ("TuneAlert", "not a usable package name"),
        ("tune-alert", "not a usable package name"),
        ("2tune", "not a usable package name"),
        ("t" * 31, "not a usable package name"),
    ],
)
def test_names_that_would_clash_or_are_not_identifiers_are_refused(name, why, capsys):
    assert rename_script.main([name, "--name", "Fine Name"]) == 2
    assert why in capsys.readouterr().err


@pytest.mark.parametrize("display", ['Tune "Alert"', "Tune  Alert", "Tüne", "A" * 31, "Tune Alert!"])
def test_display_names_that_would_break_a_file_are_refused(display, capsys):
    assert rename_script.main(["zine_press", "--name", display]) == 2
    assert "not a usable display name" in capsys.readouterr().err


def test_the_default_display_name_comes_from_the_package():
    assert rename_script.default_display("tune_alert") == "Tune Alert"


def test_make_rename_runs_the_script():
    makefile = (ROOT / "Makefile").read_text()
    assert '$(PY) scripts/rename.py "$(NAME)"' in makefile
