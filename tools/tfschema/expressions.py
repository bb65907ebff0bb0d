"""Find the references (traversals such as `google_x.y["k"].attr`) in a value as python-hcl2 renders it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_IDENT = re.compile(r"[A-Za-z_][\w-]*")
_STEP_NAME = re.compile(r"[A-Za-z_][\w-]*|[0-9]+|\*")
_FOR = re.compile(r"\bfor\s+([A-Za-z_][\w-]*)(?:\s*,\s*([A-Za-z_][\w-]*))?\s+in\b")


@dataclass(frozen=True)
class Traversal:
    """`root` then its steps: a name for `.name`, `*` for a splat, `[…]` (with the brackets) for an index."""

    root: str
    steps: tuple[str, ...]

    def __str__(self) -> str:
        return self.root + "".join(step if step.startswith("[") else f".{step}" for step in self.steps)


def expressions(text: str) -> Iterator[str]:
    """The `${…}` parts of a value: python-hcl2 writes an expression as `${…}` and a literal string in quotes."""
    index = 0
    while index < len(text):
        if text.startswith("$${", index):
            index += 3
        elif text.startswith("${", index):
            end = _close(text, index + 2, "}")
            yield text[index + 2 : end]
            index = end + 1
        else:
            index += 1


def loop_names(expression: str) -> set[str]:
    """Names a `for` expression binds (`for k, v in …`): in scope within that expression."""
    return {name for match in _FOR.finditer(expression) for name in match.groups() if name}


def traversals(expression: str) -> Iterator[Traversal]:
    """Every reference with at least one step in an expression; literal text is skipped, templates in it are not."""
    index = 0
    while index < len(expression):
        char = expression[index]
        if char == '"':
            end = _string_end(expression, index + 1)
            for inner in expressions(expression[index + 1 : end]):
                yield from traversals(inner)
            index = end + 1
            continue
        match = _IDENT.match(expression, index) if _starts_identifier(expression, index) else None
        if match is None:
            index += 1
            continue
        index, steps = _steps(expression, match.end())
        following = expression[index:].lstrip()
        if steps and not following.startswith("("):
            yield Traversal(match.group(0), tuple(steps))
        for step in steps:
            if step.startswith("["):
                yield from traversals(step[1:-1])


def path(text: str) -> Traversal | None:
    """A bare attribute path such as `build_config[0].runtime` (an ignore_changes entry); None if it is not one."""
    match = _IDENT.match(text)
    if match is None:
        return None
    end, steps = _steps(text, match.end())
    return Traversal(match.group(0), tuple(steps)) if end == len(text) else None


def _starts_identifier(text: str, index: int) -> bool:
    return index == 0 or not (text[index - 1].isalnum() or text[index - 1] in "_.-")


def _steps(text: str, index: int) -> tuple[int, list[str]]:
    steps: list[str] = []
    while index < len(text):
        if text[index] == "." and (step := _STEP_NAME.match(text, index + 1)):
            steps.append(step.group(0))
            index = step.end()
        elif text[index] == "[":
            end = _close(text, index + 1, "]")
            steps.append(text[index : end + 1])
            index = end + 1
        else:
            break
    return index, steps


def _string_end(text: str, index: int) -> int:
    """Index of the quote closing a string literal that starts at `index`, skipping escapes and `${…}`."""
    while index < len(text):
        if text[index] == "\\":
            index += 2
        elif text.startswith("${", index):
            index = _close(text, index + 2, "}") + 1
        elif text[index] == '"':
            return index
        else:
            index += 1
    return len(text)


def _close(text: str, index: int, closer: str) -> int:
    """Index of the bracket closing one opened just before `index`, across nested brackets and strings."""
    depth = 0
    while index < len(text):
        char = text[index]
        if char == '"':
            index = _string_end(text, index + 1)
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0 and char == closer:
                return index
            depth -= 1
        index += 1
    return len(text)
