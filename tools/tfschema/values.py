"""Whether a value, as python-hcl2 renders it, can be what an argument's schema asks for: its type and its enum."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# What a value is when it can be told without evaluating it: a literal, a list or object constructor,
# a variable of a declared type, or a call of a function whose result type is fixed.
_RETURNS = {
    "string": ("tostring", "join", "format", "lower", "upper", "trimspace", "replace", "jsonencode", "base64encode"),
    "number": ("tonumber", "length", "floor", "ceil", "max", "min", "parseint"),
    "bool": ("tobool", "contains", "can", "startswith", "endswith", "alltrue", "anytrue"),
    "list": ("tolist", "toset", "concat", "compact", "distinct", "flatten", "keys", "values", "sort", "split"),
    "object": ("tomap", "merge", "zipmap"),
}
_FUNCTION = {name: kind for kind, names in _RETURNS.items() for name in names}
_CALL = re.compile(r"([a-z_]+)\(")
_VAR = re.compile(r"var\.([A-Za-z_][\w-]*)")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
# Terraform converts between string, number and bool where the text allows; never between a scalar,
# a list and a map.
_REJECTS = {
    "string": {"list", "object"},
    "number": {"list", "object", "bool"},
    "boolean": {"list", "object", "number"},
    "list": {"string", "number", "bool", "object"},
    "map": {"string", "number", "bool", "list"},
}
_NAMES = {"string": "a string", "number": "a number", "bool": "a bool", "list": "a list", "object": "a map or object"}


def variable_type(declared: Any) -> str | None:
    """`type = list(string)` (rendered `${list(string)}`) as list, object, string, number or bool."""
    if not isinstance(declared, str):
        return None
    text = declared.removeprefix("${").removesuffix("}").strip()
    for prefix, kind in (("list", "list"), ("set", "list"), ("tuple", "list"), ("map", "object"), ("object", "object")):
        if text.startswith(prefix):
            return kind
    return text if text in ("string", "number", "bool") else None


def kind_of(value: Any, variables: Mapping[str, str | None]) -> str | None:
    """string, number, bool, list or object where it is certain without evaluating; None when not."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    if not isinstance(value, str):
        return None
    if value.startswith('"${') and value.endswith('}"') and _closes_at_end(value[2:-1], "{", "}"):
        # A lone interpolation, "${x}", is x itself in HCL, not a string made of it.
        return kind_of(value[1:-1], variables)
    if value.startswith('"'):
        return "string"
    if not (value.startswith("${") and value.endswith("}")):
        return None
    inner = value[2:-1].strip()
    if inner.startswith("["):
        return "list" if _closes_at_end(inner, "[", "]") else None
    if inner.startswith("{"):
        return "object" if _closes_at_end(inner, "{", "}") else None
    if (var := _VAR.fullmatch(inner)) is not None:
        return variables.get(var.group(1))
    call = _CALL.match(inner)
    if call and _closes_at_end(inner[call.end() - 1 :], "(", ")"):
        return _FUNCTION.get(call.group(1))
    return None


def problems(name: str, spec: Mapping[str, Any], value: Any, variables: Mapping[str, str | None]) -> list[str]:
    """What is wrong with `name = value` for an argument of this schema: its type, then its enum."""
    wanted = spec.get("type")
    if wanted is None:
        return []
    family = "list" if wanted.endswith("List") else "map" if wanted.endswith("Map") else wanted
    kind = kind_of(value, variables)
    literal = _literal(value)
    found: list[str] = []
    if kind in _REJECTS[family]:
        found.append(f"{name!r} must be {_expected(wanted)}, not {_NAMES[kind]}")
    elif literal is not None and family == "number" and not _NUMBER.fullmatch(literal):
        found.append(f"{name!r} must be a number, not the string {literal!r}")
    elif literal is not None and family == "boolean" and literal not in ("true", "false"):
        found.append(f"{name!r} must be a bool, not the string {literal!r}")
    enum = spec.get("enum")
    if enum and literal is not None and literal not in enum:
        found.append(f"{name!r} is {literal!r}; the provider accepts {', '.join(enum)}")
    return found


def _expected(wanted: str) -> str:
    if wanted.endswith("List"):
        return f"a list of {wanted[: -len('List')]}s"
    if wanted.endswith("Map"):
        return f"a map of {wanted[: -len('Map')]}s"
    return "a bool" if wanted == "boolean" else f"a {wanted}"


def _literal(value: Any) -> str | None:
    """The text of a string literal with no template in it; None for anything else."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"' and "${" not in value:
        return value[1:-1]
    return None


def _closes_at_end(text: str, opener: str, closer: str) -> bool:
    """Whether the bracket opening `text` closes at its last character (so the whole value is one constructor)."""
    depth = 0
    quoted = False
    for index, char in enumerate(text):
        if quoted:
            quoted = char != '"' or text[index - 1] == "\\"
        elif char == '"':
            quoted = True
        elif char == opener:
            depth += 1
        elif char == closer:
            depth -= 1
            if depth == 0:
                return index == len(text) - 1
    return False
