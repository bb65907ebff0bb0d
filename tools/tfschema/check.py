"""Compare every resource, data source, argument, block and reference in a Terraform directory with provider schemas."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

Node = Mapping[str, Any]

# Terraform's own arguments, valid in every resource or data block whatever the provider says.
_META_ARGS = {"count", "for_each", "depends_on", "provider"}
_META_BLOCKS = {"lifecycle", "provisioner", "connection"}
_MARKERS = ("__is_block__", "__comments__", "__inline_comments__", "__start_line__", "__end_line__")
_LIFECYCLE: Node = {
    "attrs": {
        name: {"set": True, "req": False, "block": block, "node": None}
        for name, block in {
            "create_before_destroy": False,
            "prevent_destroy": False,
            "ignore_changes": False,
            "replace_triggered_by": False,
            "precondition": True,
            "postcondition": True,
        }.items()
    }
}
_CONDITION_ARGS = {"condition", "error_message"}
_STEP = re.compile(r"\.([a-z_][a-z0-9_]*)|\[[^\]]*\]|\.\*")


@dataclass
class Schemas:
    """The providers' schemas, found by the prefix of a type name (`google_…` → `google`)."""

    providers: dict[str, dict[str, Any]]

    def describe(self, provider: str) -> str:
        schema = self.providers[provider]
        return f"{schema['name']} {schema['version']}"

    def lookup(self, kind: str, tf_type: str) -> tuple[str, Node | None]:
        provider = tf_type.split("_", 1)[0]
        if provider not in self.providers:
            return provider, None
        return provider, self.providers[provider]["data" if kind == "data" else "resources"].get(tf_type)


@dataclass
class _Declared:
    resources: set[tuple[str, str]] = field(default_factory=set)
    data: set[tuple[str, str]] = field(default_factory=set)
    variables: set[str] = field(default_factory=set)
    locals: set[str] = field(default_factory=set)


def _unquote(label: str) -> str:
    return label[1:-1] if len(label) >= 2 and label[0] == label[-1] == '"' else label


def _is_block(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__") for v in value)


def _items(body: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    return ((key, value) for key, value in body.items() if key not in _MARKERS)


def _labelled(blocks: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """`resource "T" "N" {}` arrives as [{'"T"': {'"N"': body}}]; yield (T, {N: body})."""
    for block in blocks:
        for label, inner in _items(block):
            yield _unquote(label), inner


def _check_body(node: Node, body: Mapping[str, Any], where: str, errors: list[str], top: bool) -> None:
    attrs: Mapping[str, Any] = node["attrs"]
    present: set[str] = set()
    for key, value in _items(body):
        if top and key in _META_ARGS:
            continue
        if top and key in _META_BLOCKS:
            if key == "lifecycle" and _is_block(value):
                for item in value:
                    _check_lifecycle(item, f"{where}: lifecycle", errors)
            continue
        if key == "dynamic" and isinstance(value, list):
            for label, dynamic in _labelled(value):
                present.add(label)
                _check_dynamic(attrs, label, dynamic, where, errors)
            continue
        present.add(key)
        spec = attrs.get(key)
        if spec is None:
            errors.append(f"{where}: unknown {'block' if _is_block(value) else 'argument'} {key!r}")
        elif _is_block(value):
            if not spec["block"]:
                errors.append(f"{where}: {key!r} is an argument, not a block: write {key} = …")
            elif spec["node"] is not None:
                for item in value:
                    _check_body(spec["node"], item, f"{where}: {key}", errors, top=False)
        elif spec["block"]:
            errors.append(f"{where}: {key!r} is a block, not an argument: write {key} {{ … }}")
        elif not spec["set"]:
            errors.append(f"{where}: {key!r} is read-only (computed by the provider)")
    for name, spec in attrs.items():
        if spec["req"] and name not in present:
            errors.append(f"{where}: required {'block' if spec['block'] else 'argument'} {name!r} is missing")


def _check_dynamic(
    attrs: Mapping[str, Any], label: str, dynamic: Mapping[str, Any], where: str, errors: list[str]
) -> None:
    spec = attrs.get(label)
    if spec is None:
        errors.append(f"{where}: unknown block {label!r} (dynamic)")
    elif not spec["block"]:
        errors.append(f"{where}: {label!r} is an argument and cannot be generated with a dynamic block")
    elif spec["node"] is not None:
        for content in dynamic.get("content", []):
            _check_body(spec["node"], content, f"{where}: {label}", errors, top=False)


def _check_lifecycle(body: Mapping[str, Any], where: str, errors: list[str]) -> None:
    _check_body(_LIFECYCLE, body, where, errors, top=False)
    for key in ("precondition", "postcondition"):
        for condition in body.get(key, []):
            unknown = {k for k, _ in _items(condition)} - _CONDITION_ARGS
            errors.extend(f"{where}: {key}: unknown argument {name!r}" for name in sorted(unknown))


def _expressions(text: str) -> Iterator[str]:
    """The `${…}` parts of a value as python-hcl2 renders it: expressions, not the literal text around them."""
    depth = 0
    start = 0
    index = 0
    while index < len(text):
        if text.startswith("${", index):
            if depth == 0:
                start = index + 2
            depth += 1
            index += 2
            continue
        if text[index] == "{" and depth:
            depth += 1
        elif text[index] == "}" and depth:
            depth -= 1
            if depth == 0:
                yield text[start:index]
        index += 1


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            if key not in _MARKERS:
                yield key
                yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


class Checker:
    """Checks one Terraform directory (its *.tf files) against the given provider schemas."""

    def __init__(self, schemas: Schemas) -> None:
        self.schemas = schemas
        prefixes = "|".join(sorted(map(re.escape, schemas.providers)))
        # A reference starts an expression: not after a word character, a dot or a quote-less path.
        self._ref = re.compile(
            rf"(?<![\w.\-/])(data\.)?((?:{prefixes})_[a-z0-9_]+)\.([A-Za-z_][\w-]*)((?:\[[^\]]*\]|\.\*|\.[a-z_][a-z0-9_]*)*)"
        )
        self._named = re.compile(r"(?<![\w.])(var|local)\.([A-Za-z_][\w-]*)")

    def check(self, directory: Path) -> list[str]:
        files = {path: hcl2.load(path.open(encoding="utf-8")) for path in sorted(directory.glob("*.tf"))}
        declared = _Declared()
        errors: list[str] = []
        for path, doc in files.items():
            self._declare(doc, declared)
            errors.extend(f"{path.name}: {e}" for e in self._check_blocks(doc))
        for path, doc in files.items():
            errors.extend(f"{path.name}: {e}" for e in self._check_references(doc, declared))
        return errors

    def _declare(self, doc: Mapping[str, Any], declared: _Declared) -> None:
        for kind, target in (("resource", declared.resources), ("data", declared.data)):
            for tf_type, named in _labelled(doc.get(kind, [])):
                target.update((tf_type, _unquote(name)) for name, _ in _items(named))
        for check in doc.get("check", []):
            for _, body in _items(check):
                for tf_type, named in _labelled(body.get("data", [])):
                    declared.data.update((tf_type, _unquote(name)) for name, _ in _items(named))
        declared.variables.update(name for name, _ in _labelled(doc.get("variable", [])))
        for block in doc.get("locals", []):
            declared.locals.update(name for name, _ in _items(block))

    def _check_blocks(self, doc: Mapping[str, Any]) -> Iterator[str]:
        errors: list[str] = []
        for kind in ("resource", "data"):
            self._check_typed(kind, doc.get(kind, []), errors)
        for check in doc.get("check", []):
            for _, body in _items(check):
                self._check_typed("data", body.get("data", []), errors)
        for name, body in _labelled(doc.get("provider", [])):
            if name in self.schemas.providers and "provider" in self.schemas.providers[name]:
                _check_body(self.schemas.providers[name]["provider"], body, f"provider {name}", errors, top=True)
        for terraform in doc.get("terraform", []):
            for required in terraform.get("required_providers", []):
                for local_name, _ in _items(required):
                    if local_name not in self.schemas.providers:
                        errors.append(f"required provider {local_name!r} has no schema to check against")
        return iter(errors)

    def _check_typed(self, kind: str, blocks: list[dict[str, Any]], errors: list[str]) -> None:
        for tf_type, named in _labelled(blocks):
            provider, node = self.schemas.lookup(kind, tf_type)
            for name, body in _items(named):
                where = f"{kind} {tf_type}.{_unquote(name)}"
                if provider not in self.schemas.providers:
                    errors.append(f"{where}: no schema for provider {provider!r}")
                elif node is None:
                    label = "data source" if kind == "data" else "resource type"
                    errors.append(f"{where}: unknown {label} {tf_type!r} in {self.schemas.describe(provider)}")
                else:
                    _check_body(node, body, where, errors, top=True)

    def _check_references(self, doc: Mapping[str, Any], declared: _Declared) -> Iterator[str]:
        seen: set[str] = set()
        for text in (expression for string in _strings(doc) for expression in _expressions(string)):
            for match in self._ref.finditer(text):
                problem = self._reference(match, declared)
                if problem and problem not in seen:
                    seen.add(problem)
                    yield problem
            for kind, name in self._named.findall(text):
                known = declared.variables if kind == "var" else declared.locals
                problem = f"reference {kind}.{name}: no such {'variable' if kind == 'var' else 'local value'}"
                if name not in known and problem not in seen:
                    seen.add(problem)
                    yield problem

    def _reference(self, match: re.Match[str], declared: _Declared) -> str | None:
        data, tf_type, name, path = match.groups()
        kind = "data" if data else "resource"
        ref = match.group(0)
        provider, node = self.schemas.lookup(kind, tf_type)
        if provider not in self.schemas.providers:
            return None
        if node is None:
            return f"reference {ref}: unknown {'data source' if data else 'resource type'} {tf_type!r}"
        if (tf_type, name) not in (declared.data if data else declared.resources):
            return f"reference {ref}: no {kind} {tf_type}.{name} is declared"
        current: Node | None = node
        for step in _STEP.finditer(path):
            attr = step.group(1)
            if attr is None:
                continue
            if current is None:
                break
            spec = current["attrs"].get(attr)
            if spec is None:
                return f"reference {ref}: {tf_type} has no attribute {attr!r}"
            current = spec["node"]
        return None
