"""The tree reads as the architecture: no import circles, and the shared modules beside settings.py depend on no app."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "musicdrops"


def module_imports() -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports (anywhere in its body)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" not in path.parts:
            name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names if alias.name in modules}
            elif isinstance(node, ast.ImportFrom) and node.module in modules:
                for alias in node.names:  # "from musicdrops.catalog import tasks" imports the module tasks
                    found.add(
                        f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                    )
        graph[name] = found - {name}
    return graph


def test_no_module_imports_itself_through_others():
    graph = module_imports()
    circles = []

    def visit(name: str, path: list[str], done: set[str]) -> None:
        for other in sorted(graph[name]):
            if other in path:
                circles.append(" -> ".join([*path[path.index(other) :], other]))
            elif other not in done:
                done.add(other)
                visit(other, [*path, other], done)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            done.add(name)
            visit(name, [name], done)
    assert circles == []


def test_the_shared_modules_import_no_app():
    """musicdrops/*.py besides the wiring that names the apps (settings, URLs) is shared by apps, so imports none."""
    apps = {f"musicdrops.{p.name}" for p in PACKAGE.iterdir() if (p / "apps.py").exists()}
    wiring = {"musicdrops.settings", "musicdrops.urls", "musicdrops.wsgi"}
    shared = {f"musicdrops.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__"} - wiring
    assert not (PACKAGE / "lib").exists(), "no grab-bag: a helper lives beside its user, or in a module named for it"
    for name, imported in module_imports().items():
        if name in shared:
            assert not {m for m in imported if ".".join(m.split(".")[:2]) in apps}, name


# Imports run one way: pages → the send and the catalogue → accounts → nothing of ours. The scheduler runs any
# app's periodic work by name, so it sits beneath them all and imports none; the send claims its slots through it.
MAY_IMPORT = {
    "accounts": set(),
    "scheduler": set(),
    "catalog": {"accounts"},
    "drops": {"accounts", "catalog", "scheduler"},
    "feeds": {"accounts", "catalog"},
    "jobs": {"accounts", "catalog"},
    "front": {"accounts", "catalog", "drops", "jobs"},  # the dashboard shows a refresh still running
    "ops": {"accounts", "catalog", "drops", "scheduler"},
}


def test_imports_run_one_way_between_the_apps():
    apps = {p.name for p in PACKAGE.iterdir() if (p / "apps.py").exists()}
    assert apps == set(MAY_IMPORT)
    wrong = []
    for name, imported in module_imports().items():
        app = [*name.split("."), ""][1]
        if app in apps:
            reached = {m.split(".")[1] for m in imported if m.count(".") and m.split(".")[1] in apps} - {app}
            wrong += [f"{name} imports musicdrops.{other}" for other in sorted(reached - MAY_IMPORT[app])]
    assert wrong == []
