"""Text from outside (SignalWire's SIDs, statuses, error messages) made safe to show: a terminal, a CSV cell, a page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# OWASP's CSV injection advice: a cell starting with one of these is a formula to a spreadsheet (so is one
# starting with a tab or CR, which `terminal` has already written as visible escapes).
_FORMULA_STARTS = ("=", "+", "-", "@")


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def terminal(value: object) -> str:
    """`value` as text in which nothing can drive a terminal: every control, format (bidi overrides,
    zero-width) and separator character, ESC, CR, LF and tab included, is written as a visible escape."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def csv_cell(value: object) -> object:
    """One CSV cell: text escaped as for a terminal, and quoted with `'` when a spreadsheet would read a
    formula in it; numbers, booleans and None are written as they are."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = terminal(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def csv_row(row: Mapping[str, Any]) -> dict[str, object]:
    """Every cell of a row through `csv_cell`."""
    return {key: csv_cell(value) for key, value in row.items()}
