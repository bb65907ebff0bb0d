"""The package's shape, read from its source: no import cycle, no long class, no function with many parameters."""

from __future__ import annotations

import ast
import dataclasses
import sys
from pathlib import Path

import pytest

from archiver.layout import ArchiveKeys
from archiver.lookup import Look
from archiver.outcome import Outcome

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("archiver", "localspace", "bench", "tests", "demo", "tools")
MAX_CLASS_LINES = 200
MAX_PARAMETERS = 8


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    files = [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))] + [ROOT / "main.py"]
    return {_module_name(p): ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in files if p.is_file()}


def _imported(node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The project's modules an import statement loads: `from a import b` loads `a.b` when that is a module."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    if node.level or node.module is None:
        return set()
    found = {f"{node.module}.{alias.name}" for alias in node.names} & known
    return found | ({node.module} & known)


def import_graph(modules: dict[str, ast.Module]) -> dict[str, set[str]]:
    """Every import anywhere in a module (inside functions and TYPE_CHECKING blocks too: a cycle
    hidden in a late import or a type hint is still two modules that need each other)."""
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, tree in modules.items():
        edges = set[str]()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= _imported(node, known)
        # A package's own __init__ runs before any of its modules: that edge is no dependency.
        graph[name] = {edge for edge in edges if edge != name and not name.startswith(edge + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycles_finds_a_cycle_it_is_shown() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_anywhere() -> None:
    assert cycles(import_graph(_modules())) == []


def _nodes() -> list[tuple[str, ast.AST]]:
    return [(name, node) for name, tree in _modules().items() for node in ast.walk(tree)]


def test_no_class_over_200_lines_anywhere() -> None:
    too_long = [
        f"{name}.{node.name}: {lines} lines"
        for name, node in _nodes()
        if isinstance(node, ast.ClassDef) and (lines := (node.end_lineno or 0) - node.lineno + 1) > MAX_CLASS_LINES
    ]
    assert too_long == []


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Named parameters, `self` and `cls` not counted (nor *args/**kwargs)."""
    named = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
    return len([arg for arg in named if arg.arg not in ("self", "cls")])


def test_no_function_over_8_parameters_anywhere() -> None:
    too_many = [
        f"{name}.{node.name}: {count} parameters"
        for name, node in _nodes()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (count := _parameters(node)) > MAX_PARAMETERS
    ]
    assert too_many == []


def test_the_recording_model_needs_the_standard_library_only() -> None:
    """A parser of dates or statuses must not pull in requests (or anything else) to run."""
    tree = _modules()["archiver.recordings"]
    imported = {
        alias.name if isinstance(node, ast.Import) else (node.module or "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    outside = {name for name in imported if name.split(".")[0] not in sys.stdlib_module_names}
    assert imported and outside == set()


# docs/development.md draws these layers; a module imports from its own layer or the ones below it.
LAYERS = (
    ("recordings", "errors", "config", "callbacks", "signature", "display", "audioformat"),
    ("laml", "relay", "signalwire", "paging", "deadline", "listing", "progress", "storage", "layout", "manifest"),
    ("archive", "lookup", "writer", "deletion", "retention", "misnamed", "proof", "outcome", "logging"),
    ("sweep", "verify", "archive_view", "sweep_report", "inventory", "holds", "report"),
    ("tasks", "auth", "server"),
    ("service",),
    ("cli", "webhook", "inbound"),
)


def test_every_archiver_module_has_a_layer_and_no_import_points_up() -> None:
    level = {f"archiver.{name}": at for at, names in enumerate(LAYERS) for name in names}
    modules = {name: tree for name, tree in _modules().items() if name.startswith("archiver.")}
    unplaced = {name for name in modules if name not in level and name.rsplit(".", 1)[1] not in ("__main__",)}
    assert unplaced == set()
    upward = [
        f"{name} -> {target}"
        for name, targets in import_graph(modules).items()
        for target in targets
        if name in level and level.get(target, -1) > level[name]
    ]
    assert upward == []


def test_an_outcome_is_built_once_from_what_the_steps_returned() -> None:
    """Steps return values (a `Look`, a `Written`, a `DeleteResult`); nothing writes into an `Outcome` afterwards."""
    outcome = Outcome("failed", recording_sid="sid", account_sid="project")
    look = Look(ArchiveKeys("a.mp3", "a.json"), "gs://b/a.mp3", "gs://b/a.json")
    for value, name in ((outcome, "outcome"), (look, "repaired")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, name, "changed")
