"""Turn a prebuilt CDK-for-Terraform provider package (npm tarball) into a compact provider schema."""

from __future__ import annotations

import base64
import hashlib
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The generated JavaScript states each Terraform name verbatim: getters read `this.getStringAttribute('name')`
# (and the like), nested objects are `this._camel = new Child(this, "name")`, the HCL synthesis of every
# object lists `name: { value: …, isBlock: … }` for what configuration may set, computed-only members
# carry `// name - computed: true, optional: false, …`, and only optional arguments have a `resetCamel()`.
# The synthesis also names each argument's Terraform type (`storageClassType: "stringList"`); a block whose
# object is a `…List` class may repeat, one whose object is an `…OutputReference` is at most one (max_items 1).
# The TypeScript declarations carry the provider's descriptions, each ending in a link `…#name Class#name`:
# there the provider states its enums ("Possible values: [...]") and, in prose only, which arguments
# conflict ("Conflicts with …", "Only one of … can be provided"): the bindings have no ConflictsWith data.
# These shapes are all the extractor relies on.
_UNIT_RE = re.compile(r"^(?:class (\w+) extends ([\w.]+) \{|function (\w+)\(struct\) \{)", re.MULTILINE)
_MEMBER_RE = re.compile(
    r"^\s*// ([a-z0-9_]+) - computed: (true|false), optional: (true|false), required: (true|false)$", re.MULTILINE
)
_CHILD_RE = re.compile(r"this\._(\w+) = new ([\w.]+)\(this, \"([a-z0-9_]+)\"")
_GETTER_RE = re.compile(r"get (\w+)\(\) \{\n\s*return [^\n]*?this\.\w+\('([a-z0-9_]+)'\)")
_RESET_RE = re.compile(r"^    reset(\w+)\(\) \{", re.MULTILINE)
_LIST_ITEM_RE = re.compile(r"new (\w+)\(this\.terraformResource")
_HCL_ATTR_RE = re.compile(
    r"^\s*([a-z0-9_]+): \{\n\s*value: .*\n\s*isBlock: (true|false),\n"
    r"\s*type: \"\w+\",\n\s*storageClassType: \"(\w+)\",",
    re.MULTILINE,
)
_INTERFACE_RE = re.compile(r"^export interface (\w+)(?: extends [\w.]+)? \{\n(.*?)^\}", re.MULTILINE | re.DOTALL)
_DOC_RE = re.compile(r"/\*\*(.*?)\*/", re.DOTALL)
_DOC_NAME_RE = re.compile(r"#([a-z0-9_]+) \w+#[a-z0-9_]+\}")
_ENUM_RE = re.compile(r"Possible values: \[([^\]]*)\]")
_CONFLICT_RE = re.compile(r"[^.]*(?:conflicts with|only one of|mutually exclusive)[^.]*", re.IGNORECASE)
_WORD_RE = re.compile(r"[a-z][a-z0-9_]*")
# Argument types the checker can compare a literal with; anything else (objects, lists of objects) it leaves alone.
_TYPES = {
    "string",
    "number",
    "boolean",
    "stringList",
    "numberList",
    "booleanList",
    "stringMap",
    "numberMap",
    "booleanMap",
}
_TYPE_RE = re.compile(r"^(\w+)\.tfResourceType = \"([a-z0-9_]+)\";$", re.MULTILINE)
_VERSION_RE = re.compile(r"prebuilt bindings for hashicorp/(\w+) provider version ([0-9.]+)")

Node = dict[str, Any]
# Bumped whenever the extracted shape changes, so that a checker never reads older schemas as if they
# simply had no types, enums or single blocks: 2 added "type", "single", "enum" and "conflicts".
SCHEMA_FORMAT = 2


class IntegrityError(ValueError):
    """The downloaded package is not the one pinned."""


@dataclass
class _Class:
    base: str
    members: dict[str, tuple[bool, bool, bool]] = field(default_factory=dict)
    children: dict[str, str] = field(default_factory=dict)
    camel: dict[str, str] = field(default_factory=dict)
    resets: set[str] = field(default_factory=set)
    hcl: dict[str, tuple[bool, str]] = field(default_factory=dict)
    item: str | None = None


@dataclass
class _Module:
    """One resource's directory: its classes and the HCL synthesis functions of its nested objects."""

    classes: dict[str, _Class] = field(default_factory=dict)
    functions: dict[str, dict[str, tuple[bool, str]]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    # Per interface of the declarations: {argument: {"enum": [...]} and/or {"conflicts": [...]}}.
    docs: dict[str, dict[str, dict[str, list[str]]]] = field(default_factory=dict)


def verify_integrity(tarball: Path, integrity: str) -> None:
    """Check an npm `sha512-…` integrity string, as package-lock.json records it."""
    algorithm, _, expected = integrity.partition("-")
    digest = hashlib.new(algorithm, tarball.read_bytes()).digest()
    if base64.b64encode(digest).decode() != expected:
        raise IntegrityError(f"{tarball.name}: {algorithm} does not match the pinned integrity")


def _units(text: str) -> Iterator[tuple[str, str | None, str]]:
    """(name, base class or None for a function, body) for every top-level class and function."""
    starts = list(_UNIT_RE.finditer(text))
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(text)
        body = text[match.end() : end]
        if match.group(1):
            yield match.group(1), match.group(2), body
        else:
            yield match.group(3), None, body


def _hcl_attrs(body: str) -> dict[str, tuple[bool, str]]:
    return {name: (block == "true", storage) for name, block, storage in _HCL_ATTR_RE.findall(body)}


def _read_docs(text: str, module: _Module) -> None:
    """Enums and stated conflicts of each interface's members, keyed by their Terraform names."""
    for interface, body in _INTERFACE_RE.findall(text):
        docs: dict[str, dict[str, list[str]]] = {}
        comments = [(match.group(1), _DOC_NAME_RE.search(match.group(1))) for match in _DOC_RE.finditer(body)]
        names = {found.group(1) for _, found in comments if found}
        for comment, found in comments:
            if found is None:
                continue
            name = found.group(1)
            facts: dict[str, list[str]] = {}
            enum = _ENUM_RE.search(comment)
            if enum:
                facts["enum"] = [value.strip().strip('"') for value in enum.group(1).split(",") if value.strip()]
            prose = comment.split("Docs at Terraform Registry", 1)[0]
            conflicts = {
                word
                for sentence in _CONFLICT_RE.findall(prose)
                for word in _WORD_RE.findall(sentence)
                if word in names and word != name
            }
            if conflicts:
                facts["conflicts"] = sorted(conflicts)
            if facts:
                docs[name] = facts
        module.docs[interface] = docs


def _read_module(texts: list[str], module: _Module) -> None:
    for text in texts:
        if text.startswith("/**") and "export interface" in text:
            _read_docs(text, module)
            continue
        module.types.update(dict(_TYPE_RE.findall(text)))
        for name, base, body in _units(text):
            if base is None:
                if name.endswith("ToHclTerraform"):
                    module.functions[name] = _hcl_attrs(body)
                continue
            cls = _Class(base=base)
            for member, computed, optional, required in _MEMBER_RE.findall(body):
                cls.members[member] = (computed == "true", optional == "true", required == "true")
            for camel, child, attr in _CHILD_RE.findall(body):
                cls.children[attr] = child
                cls.camel[attr] = camel
            for camel, attr in _GETTER_RE.findall(body):
                cls.camel.setdefault(attr, camel)
            cls.resets = {reset[0].lower() + reset[1:] for reset in _RESET_RE.findall(body)}
            if "synthesizeHclAttributes()" in body:
                cls.hcl = _hcl_attrs(body.split("synthesizeHclAttributes()", 1)[1])
            item = _LIST_ITEM_RE.search(body)
            cls.item = item.group(1) if item and base.endswith("ComplexList") else None
            module.classes[name] = cls


def _node(module: _Module, class_name: str, seen: frozenset[str] = frozenset()) -> Node:
    """{"attrs": {name: {"set", "req", "block", "node"} plus "type", "single", "enum", "conflicts" where known}}.

    set: settable; req: required; block: written as a block; node: the nested object or None; type: the
    argument's Terraform type (string, number, boolean, stringList, stringMap, …); single: a block that
    may appear once (max_items 1); enum: the values the provider accepts; conflicts: arguments the
    provider says cannot be set with this one.
    """
    cls = module.classes[class_name]
    if cls.item:
        return _node(module, cls.item, seen)
    hcl = cls.hcl
    stem = class_name[: -len("OutputReference")] if class_name.endswith("OutputReference") else class_name
    if not hcl and class_name.endswith("OutputReference"):
        hcl = module.functions.get(stem[0].lower() + stem[1:] + "ToHclTerraform", {})
    docs = module.docs.get(stem, module.docs.get(stem + "Config", {}))
    attrs: dict[str, Node] = {}
    for name in sorted(set(cls.members) | set(hcl) | set(cls.camel)):
        settable = name in hcl or any(cls.members.get(name, (False, False, False))[1:])
        # Required: settable with no reset method (a missing camel name means unknown: say optional).
        required = settable and name in cls.camel and cls.camel[name] not in cls.resets
        child = cls.children.get(name)
        nested = None
        if child in module.classes and child not in seen:
            nested = _node(module, child, seen | {class_name})
        block, storage = hcl.get(name, (False, ""))
        attr: Node = {"set": settable, "req": required, "block": block, "node": nested}
        if block and child in module.classes:
            attr["single"] = module.classes[child].item is None
        elif storage in _TYPES:
            attr["type"] = storage
        attr.update(docs.get(name, {}))
        attrs[name] = attr
    return {"attrs": attrs}


def extract(tarball: Path) -> dict[str, Any]:
    """Schema of one provider package: its name, version, provider block, resources and data sources."""
    modules: dict[str, list[str]] = {}
    provider_name = version = ""
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive:
            if not member.isfile():
                continue
            parts = member.name.split("/")
            if member.name == "package/README.md":
                found = _VERSION_RE.search(_read(archive, member))
                if found:
                    provider_name, version = found.groups()
            elif len(parts) >= 4 and parts[1] == "lib" and parts[-1].endswith((".js", ".d.ts")):
                modules.setdefault(parts[2], []).append(_read(archive, member))
    if not provider_name:
        raise ValueError(f"{tarball.name}: not a prebuilt CDK for Terraform provider package")
    schema: dict[str, Any] = {
        "name": provider_name,
        "version": version,
        "format": SCHEMA_FORMAT,
        "resources": {},
        "data": {},
    }
    for texts in modules.values():
        module = _Module()
        _read_module(texts, module)
        for class_name, tf_type in module.types.items():
            kind = module.classes[class_name].base
            node = _node(module, class_name)
            if kind.endswith("TerraformProvider"):
                schema["provider"] = node
            elif kind.endswith("TerraformDataSource"):
                schema["data"][tf_type] = node
            else:
                schema["resources"][tf_type] = node
    return schema


def _read(archive: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    handle = archive.extractfile(member)
    assert handle is not None
    return handle.read().decode("utf-8")
