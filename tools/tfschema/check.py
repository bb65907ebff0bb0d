"""Compare every resource, data source, argument, block and reference in a Terraform directory with provider schemas."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

from tools.tfschema.expressions import path as attribute_path
from tools.tfschema.references import Declared, References, expansion, items, labelled, unquote
from tools.tfschema.values import problems, variable_type

Node = Mapping[str, Any]

# Terraform's own arguments, valid in every resource or data block whatever the provider says.
_META_ARGS = {"count", "for_each", "depends_on", "provider"}
_META_BLOCKS = {"lifecycle", "provisioner", "connection"}
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
_CONDITION_ARGS = ("condition", "error_message")
_EXACT = re.compile(r"=?\s*([0-9][0-9A-Za-z.+-]*)")


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


def _is_block(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__") for v in value)


def _check_body(node: Node, body: Mapping[str, Any], where: str, errors: list[str], variables: Variables) -> None:
    attrs: Mapping[str, Any] = node["attrs"]
    present: dict[str, int] = {}
    for key, value in items(body):
        if key == "dynamic" and isinstance(value, list):
            for label, dynamic in labelled(value):
                present[label] = present.get(label, 0) + 1
                _check_dynamic(attrs, label, dynamic, where, errors, variables)
            continue
        present[key] = present.get(key, 0) + (len(value) if _is_block(value) else 1)
        spec = attrs.get(key)
        if spec is None:
            errors.append(f"{where}: unknown {'block' if _is_block(value) else 'argument'} {key!r}")
        elif _is_block(value):
            if not spec["block"]:
                errors.append(f"{where}: {key!r} is an argument, not a block: write {key} = …")
            elif spec["node"] is not None:
                for item in value:
                    _check_body(spec["node"], item, f"{where}: {key}", errors, variables)
        elif spec["block"]:
            errors.append(f"{where}: {key!r} is a block, not an argument: write {key} {{ … }}")
        elif not spec["set"]:
            errors.append(f"{where}: {key!r} is read-only (computed by the provider)")
        else:
            errors.extend(f"{where}: {problem}" for problem in problems(key, spec, value, variables))
    for name, count in present.items():
        spec = attrs.get(name)
        if spec and spec.get("single") and count > 1:
            errors.append(f"{where}: block {name!r} may appear at most once (max_items 1), found {count}")
        for other in spec.get("conflicts", []) if spec else []:
            if other in present and name < other:
                errors.append(f"{where}: {name!r} and {other!r} conflict: the provider accepts only one of them")
    for name, spec in attrs.items():
        if spec["req"] and name not in present:
            errors.append(f"{where}: required {'block' if spec['block'] else 'argument'} {name!r} is missing")


def _check_resource(node: Node, body: Mapping[str, Any], where: str, errors: list[str], variables: Variables) -> None:
    """A resource or data block: Terraform's meta-arguments and lifecycle, then the provider's schema."""
    own = {key: value for key, value in items(body) if key not in _META_ARGS and key not in _META_BLOCKS}
    _check_body(node, own, where, errors, variables)
    for lifecycle in body.get("lifecycle", []) if _is_block(body.get("lifecycle")) else []:
        _check_lifecycle(node, lifecycle, f"{where}: lifecycle", errors, variables)


def _check_dynamic(
    attrs: Mapping[str, Any],
    label: str,
    dynamic: Mapping[str, Any],
    where: str,
    errors: list[str],
    variables: Variables,
) -> None:
    spec = attrs.get(label)
    if spec is None:
        errors.append(f"{where}: unknown block {label!r} (dynamic)")
    elif not spec["block"]:
        errors.append(f"{where}: {label!r} is an argument and cannot be generated with a dynamic block")
    elif spec["node"] is not None:
        for content in dynamic.get("content", []):
            _check_body(spec["node"], content, f"{where}: {label}", errors, variables)


def _check_lifecycle(node: Node, body: Mapping[str, Any], where: str, errors: list[str], variables: Variables) -> None:
    _check_body(_LIFECYCLE, body, where, errors, variables)
    for key in ("precondition", "postcondition"):
        for condition in body.get(key, []):
            _check_conditions(condition, f"{where}: {key}", errors)
    paths = body.get("ignore_changes", [])
    for path in paths if isinstance(paths, list) else []:
        problem = _ignored_path(node, str(path))
        if problem:
            errors.append(f"{where}: ignore_changes {problem}")


def _check_conditions(condition: Mapping[str, Any], where: str, errors: list[str]) -> None:
    """A precondition, postcondition, validation or assert: exactly `condition` and `error_message`, both set."""
    names = {key for key, _ in items(condition)}
    errors.extend(f"{where}: unknown argument {name!r}" for name in sorted(names - set(_CONDITION_ARGS)))
    errors.extend(f"{where}: required argument {name!r} is missing" for name in _CONDITION_ARGS if name not in names)


def _ignored_path(node: Node, path: str) -> str | None:
    """An ignore_changes entry is an attribute path of this resource (or `all`): not an expression."""
    text = path.removeprefix("${").removesuffix("}").strip()
    parsed = attribute_path(text)
    if parsed is None:
        return f"{text!r} is not an attribute path"
    if text == "all":
        return None
    steps = (parsed.root, *parsed.steps)
    current: Node | None = node
    for step in steps:
        if step.startswith("[") or current is None:
            continue
        spec = current["attrs"].get(step)
        if spec is None:
            return f"{text!r}: the resource has no attribute {step!r}"
        current = spec["node"]
    return None


Variables = Mapping[str, "str | None"]


class Checker:
    """Checks one Terraform directory (its *.tf files) against the given provider schemas."""

    def __init__(self, schemas: Schemas) -> None:
        self.schemas = schemas

    def check(self, directory: Path) -> list[str]:
        files = {path: hcl2.load(path.open(encoding="utf-8")) for path in sorted(directory.glob("*.tf"))}
        declared = Declared()
        errors: list[str] = []
        for doc in files.values():
            self._declare(doc, declared)
        for path, doc in files.items():
            errors.extend(f"{path.name}: {e}" for e in self._check_blocks(doc, declared.variables))
        for path, doc in files.items():
            errors.extend(f"{path.name}: {e}" for e in References(self.schemas, declared).file(doc))
        return errors

    def _declare(self, doc: Mapping[str, Any], declared: Declared) -> None:
        for kind, target in (("resource", declared.resources), ("data", declared.data)):
            for tf_type, named in labelled(doc.get(kind, [])):
                target.update(((tf_type, unquote(name)), expansion(body)) for name, body in items(named))
        for _, body in labelled(doc.get("check", [])):
            for tf_type, named in labelled(body.get("data", [])):
                declared.data.update(((tf_type, unquote(name)), expansion(body)) for name, body in items(named))
        for name, body in labelled(doc.get("variable", [])):
            declared.variables[name] = variable_type(body.get("type"))
        for block in doc.get("locals", []):
            declared.locals.update(name for name, _ in items(block))

    def _check_blocks(self, doc: Mapping[str, Any], variables: Variables) -> Iterator[str]:
        errors: list[str] = []
        for kind in ("resource", "data"):
            self._check_typed(kind, doc.get(kind, []), errors, variables)
        for name, body in labelled(doc.get("check", [])):
            self._check_typed("data", body.get("data", []), errors, variables)
            for condition in body.get("assert", []):
                _check_conditions(condition, f"check {name}: assert", errors)
        for name, body in labelled(doc.get("variable", [])):
            for condition in body.get("validation", []):
                _check_conditions(condition, f"variable {name}: validation", errors)
        for name, body in labelled(doc.get("provider", [])):
            if name in self.schemas.providers and "provider" in self.schemas.providers[name]:
                _check_body(self.schemas.providers[name]["provider"], body, f"provider {name}", errors, variables)
        for terraform in doc.get("terraform", []):
            for required in terraform.get("required_providers", []):
                for local_name, spec in items(required):
                    errors.extend(self._pin(local_name, spec))
        return iter(errors)

    def _pin(self, local_name: str, spec: Any) -> list[str]:
        """A required provider has a schema here, and its version constraint is that schema's exact version."""
        if local_name not in self.schemas.providers:
            return [f"required provider {local_name!r} has no schema to check against"]
        version = unquote(str(spec.get("version", ""))) if isinstance(spec, Mapping) else ""
        exact = _EXACT.fullmatch(version.strip())
        checked = self.schemas.providers[local_name]["version"]
        if exact is None or exact.group(1) != checked:
            return [f"required provider {local_name!r}: version {version!r} is not {checked}, the version checked here"]
        return []

    def _check_typed(self, kind: str, blocks: list[dict[str, Any]], errors: list[str], variables: Variables) -> None:
        for tf_type, named in labelled(blocks):
            provider, node = self.schemas.lookup(kind, tf_type)
            for name, body in items(named):
                where = f"{kind} {tf_type}.{unquote(name)}"
                if provider not in self.schemas.providers:
                    errors.append(f"{where}: no schema for provider {provider!r}")
                elif node is None:
                    label = "data source" if kind == "data" else "resource type"
                    errors.append(f"{where}: unknown {label} {tf_type!r} in {self.schemas.describe(provider)}")
                else:
                    _check_resource(node, body, where, errors, variables)
