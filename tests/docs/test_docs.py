"""The docs cannot rot: every test, file, setting, Python path and link they cite exists.

Reads the README and every page under docs/. What counts as a citation:

- a pytest node id, ``tests/<path>.py::test_name`` (a parameter in brackets is allowed):
  the file exists and defines that test;
- a relative path in backticks (``musicdrops/settings.py``, ``static/js/``, ``Procfile``):
  it exists in the repository;
- an UPPER_CASE name in backticks (``CELERY_TASK_ACKS_LATE``, ``REDIS_URL``): it occurs in
  the code or the deploy files; a ``CELERY_*`` one must be a real setting;
- a dotted path into the project package (``musicdrops.scheduler.beat.Scheduler``): it imports;
- a module run with ``python -m`` (``bench.catalog_sync``): it can be found;
- a make target (``make bench-web``): the Makefile has it;
- a relative link (``[Guides](guides/add-a-queue.md)``): its target exists.

A guide's ```diff blocks are the change it teaches (tests/integration/test_guides.py applies
them): what they add counts as existing for that page, and they are not scanned themselves.
"""

import ast
import functools
import importlib
import importlib.util
import re
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "musicdrops"
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
FAILURE_PAGES = sorted((ROOT / "docs" / "failures").glob("*.md"))

NODE_ID = re.compile(r"\btests/[\w/]+\.py::(?:\w+::)?\w+(?:\[[^\]\s`]*\])?")
TEST_FILE = re.compile(r"\btests/[\w/]+\.py\b")
BACKTICKED = re.compile(r"`([^`\n]+)`")
ROOT_FILES = {"Procfile", "Makefile", "Dockerfile"}
PATH_LIKE = re.compile(r"[\w.-]+(?:/[\w.-]+)*/?")
UPPER_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
DOTTED = re.compile(rf"(?<![\w@./-]){PACKAGE}(?:\.\w+)+(?::\w+)?")
RUN_MODULE = re.compile(r"python -m ([\w.]+)")
MAKE_TARGET = re.compile(r"`make ([\w-]+)")
LINK = re.compile(r"\]\(([^)\s]+)\)")
DIFF_BLOCK = re.compile(r"^```diff\n(.*?)^```$", re.MULTILINE | re.DOTALL)
NEW_FILE = re.compile(r"^--- /dev/null\n\+\+\+ b/(\S+)$", re.MULTILINE)
# Where an UPPER_CASE name may be defined or read, besides the package itself.
CONFIG_FILES = ["Procfile", "app.json", "compose.yaml", "Dockerfile", "gunicorn.conf.py", "Makefile", ".ci/run"]


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def text(page: Path) -> str:
    """The page, without the diffs it shows."""
    return DIFF_BLOCK.sub("", page.read_text())


def diffs(page: Path) -> str:
    return "".join(DIFF_BLOCK.findall(page.read_text()))


def added_files(page: Path) -> set[str]:
    return set(NEW_FILE.findall(diffs(page)))


def added_text(page: Path) -> str:
    """Every line the page's diffs add."""
    return "\n".join(
        line[1:] for line in diffs(page).splitlines() if line.startswith("+") and not line.startswith("+++")
    )


@functools.cache
def defined_tests(path: str) -> set[str]:
    """Test names defined in a test file: module-level functions, and Class::method."""
    tree = ast.parse((ROOT / path).read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            }
    return names


@functools.cache
def code_and_config() -> str:
    sources = [path.read_text() for path in (ROOT / PACKAGE).rglob("*.py")]
    sources += [(ROOT / name).read_text() for name in CONFIG_FILES if (ROOT / name).exists()]
    return "\n".join(sources)


def cited_paths(page: Path) -> list[str]:
    paths = []
    for token in BACKTICKED.findall(text(page)):
        token = token.strip()
        if token in ROOT_FILES or (
            PATH_LIKE.fullmatch(token) and "/" in token and not token.startswith(("/", ".venv/"))
        ):
            paths.append(token.split("::")[0])
    return paths


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_cited_test_exists(page):
    missing = []
    for node_id in NODE_ID.findall(text(page)):
        path, _, name = node_id.partition("::")
        name = name.partition("[")[0]
        if path in added_files(page):
            if not re.search(rf"^def {name}\(", added_text(page), re.MULTILINE):
                missing.append(node_id)
        elif not (ROOT / path).is_file() or name not in defined_tests(path):
            missing.append(node_id)
    for path in TEST_FILE.findall(text(page)):
        if not (ROOT / path).is_file() and path not in added_files(page):
            missing.append(path)
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_cited_path_exists(page):
    missing = [path for path in cited_paths(page) if not (ROOT / path).exists() and path not in added_files(page)]
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_cited_setting_exists(page):
    missing = []
    for token in BACKTICKED.findall(text(page)):
        for name in UPPER_NAME.findall(token):
            unknown_setting = name.startswith("CELERY_") and not hasattr(settings, name)
            known = re.search(rf"\b{name}\b", code_and_config()) or re.search(rf"\b{name}\b", added_text(page))
            if unknown_setting or not known:
                missing.append(name)
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_cited_python_path_imports(page):
    missing = []
    for dotted in DOTTED.findall(text(page)):
        if re.search(rf"^(?:def|class) {dotted.rpartition('.')[2]}\b", added_text(page), re.MULTILINE):
            continue  # defined by the page's own diffs
        module, _, attribute = dotted.partition(":")
        if not attribute:
            try:
                importlib.import_module(module)
                continue
            except ImportError:
                module, _, attribute = module.rpartition(".")
        try:
            if not hasattr(importlib.import_module(module), attribute):
                missing.append(dotted)
        except ImportError:
            missing.append(dotted)
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_module_run_with_python_m_exists(page):
    missing = []
    for module in RUN_MODULE.findall(page.read_text()):
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:
            found = False
        if not found:
            missing.append(module)
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_make_target_exists(page):
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    assert [target for target in MAKE_TARGET.findall(text(page)) if target not in targets] == []


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_relative_link_has_a_target(page):
    targets = [link.partition("#")[0] for link in LINK.findall(text(page))]
    relative = [target for target in targets if target and "://" not in target and not target.startswith("mailto:")]
    assert [target for target in relative if not (page.parent / target).exists()] == []


def test_every_failure_page_names_a_runnable_test_and_where_it_lives():
    assert len(FAILURE_PAGES) == 7, "one page per failure in the product brief's table"
    for page in FAILURE_PAGES:
        body = text(page)
        assert re.search(r"\.venv/bin/python -m pytest tests/\S+::test_\w+", body), page_id(page)
        assert cited_paths(page), page_id(page)
        for heading in ("## What happened", "## The design", "## Where it lives", "## The tests that prove it"):
            assert heading in body, f"{page_id(page)}: {heading}"


def test_the_index_links_every_page():
    index = ROOT / "docs" / "README.md"
    linked = {(index.parent / link.partition("#")[0]).resolve() for link in LINK.findall(text(index))}
    pages = {page.resolve() for page in (ROOT / "docs").rglob("*.md")} - {index.resolve()}
    assert pages - linked == set()
