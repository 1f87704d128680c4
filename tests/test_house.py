"""The house rules that keep the code one piece: no import cycles, each default in one place,
the README's score table generated from (and checked against) the registry."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _import_graph() -> dict[str, set[str]]:
    """segcli module -> the segcli modules it imports, anywhere in its body (functions too), except
    under ``if TYPE_CHECKING:``."""
    modules = {}
    for path in (ROOT / "segcli").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()

        class Visitor(ast.NodeVisitor):
            def __init__(self, found: set[str]) -> None:
                self.found = found

            def visit_If(self, node):
                if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
                    return
                self.generic_visit(node)

            def visit_Import(self, node):
                self.found.update(a.name for a in node.names)

            def visit_ImportFrom(self, node):
                if node.module:
                    self.found.add(node.module)
                    self.found.update(f"{node.module}.{a.name}" for a in node.names)

        Visitor(found).visit(ast.parse(path.read_text(encoding="utf-8")))
        graph[name] = {m for m in found if m in modules and m != name and m != "segcli"}
    return graph


def test_no_import_cycle():
    graph = _import_graph()
    assert "segcli.run.pipeline" in graph and graph["segcli.run.pipeline"]  # the walk found the imports
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for dependency in sorted(graph[module]):
            if state.get(dependency) == 1:
                cycle = path[path.index(dependency) :] + [dependency]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dependency not in state:
                visit(dependency)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_cli_and_api_defaults_are_the_options_defaults():
    from segcli.api import SCORE_OPTIONS, _score_options_defaults
    from segcli.cli.score import score

    parameters = inspect.signature(score).parameters
    defaults = _score_options_defaults()
    for option in SCORE_OPTIONS:
        assert option in parameters, option
        assert parameters[option].default == defaults[option], option


def test_readme_table_lists_exactly_the_registry():
    from segcli.scores.table import BY_NAME, COMBINED, MULTICLASS_BY_NAME

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Scores\n") :]
    section = section[: section.index("\n## ", 5)]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    named = set()
    for row in rows[1:]:
        cell = row.split("|")[1].strip()
        if cell in ("score", "what") or set(cell) <= {"-"}:
            continue
        head = cell.split(" (multi-class)")[0]
        named.update(part.strip() for part in head.replace("loss_*", "").split(",") if part.strip())
    expected = set(BY_NAME) | set(MULTICLASS_BY_NAME) | {COMBINED}
    for name in expected:
        assert name in named or name.startswith("loss_"), name
    assert named - expected <= {""}, named - expected
