"""Turn a clone of this project into your own: one new name, everywhere.

    .venv/bin/python scripts/rename.py <new_package> [--name "Display Name"] [--description TEXT] [--force]
    make rename NAME=<new_package> [TITLE="Display Name"]

The current names are read from the project itself: the Python package from
pyproject.toml ([project] name), the display name from app.json ("name").
Every text file is rewritten (binary files and .git, .venv, var/, staticfiles/
and caches are left alone), and the package directory is moved. The names
take five forms, each replaced where it appears:

    package       the directory, imports, dotted paths, DJANGO_SETTINGS_MODULE,
                  Celery("..."), Redis key prefixes, database and user names
    PACKAGE       environment variables (e.g. <PACKAGE>_REQUIRE_BROWSER)
    host-name     the package with "-" for "_", in host names (<host-name>.local)
                  and repository URLs, where "_" is not allowed
    Display Name  what people read: page titles, email subjects and senders, docs
    DisplayName   the display name without spaces, where a single token is needed:
                  the MusicBrainz User-Agent, iCal's PRODID, test user agents

Then, if ruff is installed, imports are re-sorted (the new name may sort
elsewhere) and the code reformatted. Refuses to run on a git checkout with
uncommitted changes unless --force, so that `git diff` shows exactly what it
did and `git checkout .` undoes it. Running it again with the same name does
nothing. A second rename (to yet another name) replaces every occurrence of
the current name, so choose a distinctive one.
"""

import argparse
import importlib.metadata
import importlib.util
import json
import keyword
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {
    ".git", ".venv", "venv", "var", "staticfiles", "node_modules",
    "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache",
}  # fmt: skip
# Names the package may not take: the repository's own top-level folders, and
# modules that would shadow or be shadowed ("test" is left out of
# sys.stdlib_module_names, but is the standard library's test package).
RESERVED = {"tests", "test", "bench", "scripts", "docs", "static", "templates", "var", "staticfiles", "manage", "site"}
PACKAGE_NAME = re.compile(r"[a-z][a-z0-9_]*")
DISPLAY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[ -][A-Za-z0-9]+)*")
MAX_LENGTH = 30  # app.json's name limit, and short enough for database names


class RenameError(Exception):
    pass


@dataclass(frozen=True)
class Names:
    package: str
    display: str

    @property
    def upper(self) -> str:
        return self.package.upper()

    @property
    def host(self) -> str:
        return self.package.replace("_", "-")

    @property
    def token(self) -> str:
        return re.sub(r"[^A-Za-z0-9]", "", self.display)


def current_names(root: Path) -> Names:
    try:
        package = tomllib.loads((root / "pyproject.toml").read_text())["project"]["name"]
        display = json.loads((root / "app.json").read_text())["name"]
    except (OSError, KeyError, ValueError) as error:
        raise RenameError(f"cannot read the current names from pyproject.toml and app.json: {error}") from None
    if not (root / package / "__init__.py").is_file():
        raise RenameError(f"pyproject.toml names the package {package!r}, but {package}/__init__.py is missing")
    return Names(package=package, display=display)


def dependency_modules() -> set[str]:
    """Top-level modules of every installed distribution, and the requirements' names."""
    modules = {name.lower() for name in importlib.metadata.packages_distributions()}
    for requirements in ROOT.glob("requirements*.txt"):
        for line in requirements.read_text().splitlines():
            match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
            if match and not line.lstrip().startswith(("#", "-")):
                modules.add(match.group(1).lower().replace("-", "_").replace(".", "_"))
    return modules


def importable_elsewhere(name: str) -> bool:
    """Whether ``import name`` would find something outside this repository."""
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != ROOT and Path(p).resolve() != ROOT / "scripts"]
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
    finally:
        sys.path[:] = saved


def check_package(name: str) -> None:
    if not PACKAGE_NAME.fullmatch(name) or len(name) > MAX_LENGTH:
        raise RenameError(
            f"{name!r} is not a usable package name: lowercase letters, digits and _, starting with a letter,"
            f" at most {MAX_LENGTH} characters (e.g. tune_alert)"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise RenameError(f"{name!r} is a Python keyword")
    if name in sys.stdlib_module_names or name in RESERVED:
        raise RenameError(f"{name!r} would clash with the standard library or a folder of this repository")
    if name in dependency_modules() or importable_elsewhere(name):
        raise RenameError(f"{name!r} is the name of an installed module (a dependency): imports would clash")


def check_display(name: str) -> None:
    if not DISPLAY_NAME.fullmatch(name) or len(name) > MAX_LENGTH:
        raise RenameError(
            f"{name!r} is not a usable display name: ASCII letters and digits, single spaces or hyphens between"
            f" words, at most {MAX_LENGTH} characters (Heroku's limit for app.json's name)"
        )


def default_display(package: str) -> str:
    return " ".join(part.capitalize() for part in package.split("_") if part)


def replacer(old: Names, new: Names) -> tuple[re.Pattern[str], dict[str, str]]:
    """One pattern for every form of the old names; a single pass, so nothing is replaced twice."""
    forms = [
        # Host names and repository URLs: no "_" allowed there.
        ("host", rf"{re.escape(old.host)}(?=\.(?:local|example)\b)|(?<=github\.com/){re.escape(old.host)}"
                 rf"|(?<=github\.com/{re.escape(old.host)}/){re.escape(old.host)}", new.host),
        ("upper", re.escape(old.upper), new.upper),
        # The display name glued to more of a token (User-Agent "Name/1.0", "Name-tests", "NameTests").
        ("token", rf"{re.escape(old.token)}(?=[A-Za-z0-9_/-])", new.token),
        ("display", re.escape(old.display), new.display),
        ("package", re.escape(old.package), new.package),
    ]  # fmt: skip
    if old.token != old.display:
        forms.insert(4, ("bare_token", re.escape(old.token), new.token))
    pattern = re.compile("|".join(f"(?P<{group}>{regex})" for group, regex, _ in forms))
    return pattern, {group: replacement for group, _, replacement in forms}


def text_files(root: Path) -> tuple[list[Path], list[Path]]:
    """(text files, binary files skipped) under root, outside SKIP_DIRS and symlinks."""
    texts, binaries = [], []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not (Path(directory) / d).is_symlink())
        for name in sorted(files):
            path = Path(directory) / name
            if path.is_symlink():
                continue
            data = path.read_bytes()
            try:
                if b"\0" in data[:8192]:
                    raise UnicodeDecodeError("utf-8", b"", 0, 1, "NUL byte")
                data.decode("utf-8")
            except UnicodeDecodeError:
                binaries.append(path)
            else:
                texts.append(path)
    return texts, binaries


def git_changes(root: Path) -> list[str] | None:
    """Uncommitted changes, outside what this script skips; None when root is not a git checkout."""
    try:
        result = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return None
    if result.returncode != 0:
        return None
    changes = []
    for line in result.stdout.splitlines():
        path = line[3:].strip('"')
        if path.split("/")[0].rstrip("/") not in SKIP_DIRS:
            changes.append(line)
    return changes


def set_description(root: Path, description: str) -> None:
    """The description in app.json and pyproject.toml, edited in place to keep each file's layout."""
    app_json = root / "app.json"
    app_json.write_text(
        re.sub(r'(?m)^(  "description": ).*?(,?)$', lambda m: m[1] + json.dumps(description) + m[2],
               app_json.read_text(), count=1)
    )  # fmt: skip
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        re.sub(r"(?m)^description = .*$", lambda _: f"description = {json.dumps(description)}",
               pyproject.read_text(), count=1)
    )  # fmt: skip
    json.loads(app_json.read_text())  # still valid JSON


def tidy_with_ruff(root: Path) -> None:
    """The new name may sort elsewhere among the imports: let ruff put them back in order."""
    ruff = root / ".venv" / "bin" / "ruff"
    command = str(ruff) if ruff.exists() else shutil.which("ruff")
    if command is None:
        print("ruff is not installed: run `ruff check --select I --fix . && ruff format .` once it is")
        return
    subprocess.run([command, "check", "--select", "I", "--fix", "--quiet", "."], cwd=root, check=False)
    subprocess.run([command, "format", "--quiet", "."], cwd=root, check=False)
    result = subprocess.run([command, "check", "--quiet", "."], cwd=root, capture_output=True, text=True, check=False)
    if result.returncode == 0:
        print("ruff check: clean")
    else:
        print(f"ruff check finds something to fix by hand:\n{result.stdout}")


def rename(root: Path, new: Names, *, force: bool = False, description: str | None = None) -> int:
    old = current_names(root)
    if old == new and description is None:
        print(f"Already named {new.package} ({new.display}): nothing to do.")
        return 0
    changes = git_changes(root)
    if not force:
        if changes is None:
            raise RenameError("not a git checkout: nothing could undo the rename. Use --force to rename anyway.")
        if changes:
            shown = "\n  ".join(changes[:10])
            raise RenameError(f"uncommitted changes; commit or stash them first (or use --force):\n  {shown}")
    if new.package != old.package and (root / new.package).exists():
        raise RenameError(f"{new.package}/ already exists")

    pattern, replacements = replacer(old, new)
    texts, binaries = text_files(root)
    changed = 0
    for path in texts:
        before = path.read_text()
        after = pattern.sub(lambda match: replacements[str(match.lastgroup)], before)
        if after != before:
            path.write_text(after)
            changed += 1
    if new.package != old.package:
        (root / old.package).rename(root / new.package)
    if description is not None:
        set_description(root, description)

    print(f"Renamed {old.package} ({old.display}) to {new.package} ({new.display}): {changed} files changed.")
    leftover = [p for p in binaries if old.package.encode() in p.read_bytes() or old.display.encode() in p.read_bytes()]
    for path in leftover:
        print(f"  left alone, binary: {path.relative_to(root)} mentions the old name")
    tidy_with_ruff(root)
    print("Next: review with `git diff --stat`, run `make test`, and commit.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("package", help="the new Python package name, e.g. tune_alert")
    parser.add_argument("--name", help='the display name, e.g. "Tune Alert" (default: from the package name)')
    parser.add_argument("--description", help="a new description for app.json and pyproject.toml")
    parser.add_argument("--force", action="store_true", help="run even with uncommitted changes or without git")
    args = parser.parse_args(argv)
    try:
        display = args.name or default_display(args.package)
        check_display(display)
        old = current_names(ROOT)
        if args.package != old.package:
            check_package(args.package)
        return rename(
            ROOT, Names(package=args.package, display=display), force=args.force, description=args.description
        )
    except RenameError as error:
        print(f"rename: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
