"""Check every reference against what is declared and in scope: resources, their keys, attributes and loop names."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tools.tfschema.expressions import Traversal, expressions, loop_names, traversals

Node = Mapping[str, Any]
_MARKERS = ("__is_block__", "__comments__", "__inline_comments__", "__start_line__", "__end_line__")
# Roots Terraform itself provides whose attributes this check does not know.
_OPEN_ROOTS = {"path", "terraform", "module"}
# Blocks whose values are not expressions to look into (provider sources, versions, moved addresses).
_SKIPPED_BLOCKS = {"terraform", "moved", "import", "removed"}


@dataclass
class Declared:
    """What the directory declares: resources and data sources with how they expand, variables with their types."""

    resources: dict[tuple[str, str], str | None] = field(default_factory=dict)
    data: dict[tuple[str, str], str | None] = field(default_factory=dict)
    variables: dict[str, str | None] = field(default_factory=dict)
    locals: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Scope:
    """Where an expression stands: which block's `each`, `count` and `self` it may use, and which loop names."""

    node: Node | None = None
    expansion: str | None = None
    self_allowed: bool = False
    iterators: frozenset[str] = frozenset()


def expansion(body: Mapping[str, Any]) -> str | None:
    """`for_each`, `count` or None: how a resource or data block expands into instances."""
    return next((key for key in ("for_each", "count") if key in body), None)


def items(body: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    return ((key, value) for key, value in body.items() if key not in _MARKERS)


def unquote(label: str) -> str:
    return label[1:-1] if len(label) >= 2 and label[0] == label[-1] == '"' else label


def labelled(blocks: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """`resource "T" "N" {}` arrives as [{'"T"': {'"N"': body}}]; yield (T, {N: body})."""
    for block in blocks:
        for label, inner in items(block):
            yield unquote(label), inner


class References:
    """Walks one parsed file, giving each expression its scope, and reports each reference that cannot resolve."""

    def __init__(self, schemas: Any, declared: Declared) -> None:
        self.schemas = schemas
        self.declared = declared
        self.problems: list[str] = []

    def file(self, doc: Mapping[str, Any]) -> list[str]:
        self.problems = []
        for kind, blocks in items(doc):
            if kind in _SKIPPED_BLOCKS or not isinstance(blocks, list):
                continue
            if kind in ("resource", "data"):
                self._typed(kind, blocks)
            elif kind == "check":
                for _, body in labelled(blocks):
                    self._typed("data", body.get("data", []))
                    self._value({k: v for k, v in items(body) if k != "data"}, Scope())
            else:
                self._value(blocks, Scope())
        return list(dict.fromkeys(self.problems))

    def _typed(self, kind: str, blocks: list[dict[str, Any]]) -> None:
        for tf_type, named in labelled(blocks):
            _, node = self.schemas.lookup(kind, tf_type)
            for _, body in items(named):
                self._body(body, Scope(node=node, expansion=expansion(body)))

    def _body(self, body: Mapping[str, Any], scope: Scope) -> None:
        for key, value in items(body):
            if key == "lifecycle" and isinstance(value, list):
                for lifecycle in value:
                    self._lifecycle(lifecycle, scope)
            elif key in ("provisioner", "connection"):
                self._value(value, replace(scope, self_allowed=True))
            elif key == "dynamic" and isinstance(value, list):
                for label, dynamic in labelled(value):
                    iterator = unquote(str(dynamic.get("iterator", label)).removeprefix("${").removesuffix("}"))
                    self._value(dynamic.get("for_each"), scope)
                    inner = replace(scope, iterators=scope.iterators | {iterator})
                    for content in dynamic.get("content", []):
                        self._body(content, inner)
            elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                for block in value:
                    self._body(block, scope)
            else:
                self._value(value, scope)

    def _lifecycle(self, lifecycle: Mapping[str, Any], scope: Scope) -> None:
        for key, value in items(lifecycle):
            if key == "ignore_changes":
                continue  # attribute paths, not expressions: checked against the schema in check.py
            self._value(value, replace(scope, self_allowed=key == "postcondition"))

    def _value(self, value: Any, scope: Scope) -> None:
        if isinstance(value, str):
            for expression in expressions(value):
                bound = loop_names(expression)
                for traversal in traversals(expression):
                    problem = self._traversal(traversal, scope, bound)
                    if problem:
                        self.problems.append(f"reference {traversal}: {problem}")
        elif isinstance(value, Mapping):
            for key, inner in items(value):
                self._value(key, scope)
                self._value(inner, scope)
        elif isinstance(value, list):
            for inner in value:
                self._value(inner, scope)

    def _traversal(self, ref: Traversal, scope: Scope, bound: set[str]) -> str | None:
        root, steps = ref.root, ref.steps
        if root in bound or root in _OPEN_ROOTS:
            return None
        if root in scope.iterators:
            return None if steps[0] in ("key", "value") else "a dynamic block's iterator has only .key and .value"
        if root in ("var", "local"):
            known = self.declared.variables if root == "var" else self.declared.locals
            return None if steps[0] in known else f"no such {'variable' if root == 'var' else 'local value'}"
        if root == "each":
            if scope.expansion != "for_each":
                return "each is only set in a block with for_each"
            return None if steps[0] in ("key", "value") else "each has only .key and .value"
        if root == "count":
            if scope.expansion != "count":
                return "count.index is only set in a block with count"
            return None if steps[0] == "index" else "count has only .index"
        if root == "self":
            if not scope.self_allowed:
                return "self is only valid in a postcondition, a provisioner or a connection block"
            return _attributes(scope.node, steps, "this resource")
        if root == "data":
            if len(steps) < 2:
                return "a data source reference is data.TYPE.NAME"
            return self._resource("data", steps[0], steps[1], steps[2:])
        provider = root.split("_", 1)[0]
        if provider in self.schemas.providers:
            return self._resource("resource", root, steps[0], steps[1:])
        return "not declared here (no variable, loop variable or dynamic block iterator of that name is in scope)"

    def _resource(self, kind: str, tf_type: str, name: str, steps: tuple[str, ...]) -> str | None:
        _, node = self.schemas.lookup(kind, tf_type)
        if node is None:
            return f"unknown {'data source' if kind == 'data' else 'resource type'} {tf_type!r}"
        declared = self.declared.data if kind == "data" else self.declared.resources
        if (tf_type, name) not in declared:
            return f"no {kind} {tf_type}.{name} is declared"
        mode = declared[(tf_type, name)]
        if steps and mode and not steps[0].startswith("[") and steps[0] != "*":
            key = "key" if mode == "for_each" else "index"
            return f"{tf_type}.{name} has {mode}: name an instance ([{key}]) before .{steps[0]}"
        if steps and not mode and steps[0].startswith("[") and steps[0] != "[*]":
            return f"{tf_type}.{name} has neither count nor for_each: it takes no {steps[0]}"
        return _attributes(node, steps, tf_type)


def _attributes(node: Node | None, steps: tuple[str, ...], owner: str) -> str | None:
    """Follow attribute steps through nested blocks; indexes and splats pass through."""
    current = node
    for step in steps:
        if step.startswith("[") or step == "*" or step.isdigit():
            continue
        if current is None:
            return None
        spec = current["attrs"].get(step)
        if spec is None:
            return f"{owner} has no attribute {step!r}"
        current = spec["node"]
    return None
