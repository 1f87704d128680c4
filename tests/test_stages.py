"""The house's stages: imports only go down (inputs -> engine -> scores -> run -> results; the
doors, cli and the public modules, on top), and no module imports another in a circle.

Every import is walked, those inside functions too: a late import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "segcli"
# Modules every stage may use: errors, text made safe to show, the options and their defaults.
BASE = {"segcli.errors", "segcli.display", "segcli.settings"}
STAGES = ("inputs", "engine", "scores", "run", "results")
TOP = len(STAGES)  # the doors and the public modules: cli, api, metrics, losses, ...


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _level(module: str) -> int:
    """The stage of a module: -1 for the base, 0..4 for the stages, TOP for everything else."""
    if module in BASE or module == "segcli" or module.startswith("segcli.settings."):  # the settings package
        return -1
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in STAGES:
        return STAGES.index(parts[1])
    return TOP


def _imports(path: Path) -> set[str]:
    """The segcli modules a file imports (``from segcli.x import y`` counts y when it is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("segcli")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("segcli"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if _exists(candidate) else node.module)
    return found


def _exists(module: str) -> bool:
    relative = Path(*module.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").is_file() or (PACKAGE / relative / "__init__.py").is_file()


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_imports_only_go_down_the_stages():
    upward = []
    for module, imports in _graph().items():
        for imported in imports:
            if imported == "segcli" and module != "segcli":
                continue  # ``from segcli import __version__``: the package's face, no module
            if _level(imported) > _level(module) or (_level(module) == -1 and _level(imported) != -1):
                upward.append(f"{module} -> {imported}")
            if _level(module) < TOP and imported.startswith(("segcli.cli", "segcli.api")):
                upward.append(f"{module} -> {imported}")
    assert not upward, "imports from a lower stage to a higher one:\n" + "\n".join(sorted(upward))


def test_no_import_circle():
    graph = {m: {i for i in imports if i != m and i != "segcli"} for m, imports in _graph().items()}
    done: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            circles.append(path[path.index(module) :] + [module])
            return
        if module in done:
            return
        for imported in sorted(graph.get(module, ())):
            visit(imported, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_says_what_it_holds_and_may_import(stage):
    doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text()))
    assert doc and "May import" in doc
