"""Strings SignalWire sends never drive a terminal or a spreadsheet: a hostile listing through the real CLI.

The stand-in answers the window's listing with rows an attacker controlling the listing could send:
ANSI escapes that clear the screen and print a fake green verdict, a carriage return, an OSC title
sequence, and OWASP's CSV formula starts. `python -m archiver verify` and `backfill` run as processes.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from archiver.display import csv_cell, terminal
from archiver.logging import configure, get_logger
from localspace.processes import ROOT
from localspace.space import Fault, Space
from tests.helpers import env_for

FAKE_VERDICT = "\x1b[2J\x1b[H\x1b[1;32mALL RECORDINGS VERIFIED OK\x1b[0m"
HYPERLINK = '=HYPERLINK("http://evil.example/","click")'
STAMP = "Thu, 26 Nov 2026 12:00:00 +0000"


def hostile_page(space: Space) -> bytes:
    good = space.add()
    rows = [
        {"sid": FAKE_VERDICT, "status": "completed", "date_created": STAMP},
        {"sid": HYPERLINK, "status": "completed", "date_created": "+cmd|' /C calc'!A0"},
        {"sid": good.sid, "status": "\x1b]0;owned\x07\rdone", "date_created": STAMP},
        {"sid": good.sid, "status": "@sum(1+1)", "date_created": "-2+3"},
    ]
    return json.dumps({"recordings": rows, "next_page_uri": None, "page": 0, "page_size": 1000}).encode()


def run_cli(space: Space, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | env_for(space, ARCHIVE_URI=str(tmp_path / "archive"))
    space.fault("*", "list", Fault(body=hostile_page(space)))
    command = [sys.executable, "-m", "archiver", *args, "--since", "2026-11-01", "--until", "2026-11-30"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def assert_inert(text: str) -> None:
    """Nothing a terminal acts on: no ESC, BEL, CR or other control character but the line breaks."""
    assert not [char for char in text if not char.isprintable() and char != "\n"], repr(text)


def test_verify_prints_and_writes_hostile_rows_inert(space: Space, tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    result = run_cli(space, tmp_path, "verify", "--output", str(report))
    assert result.returncode == 1, result.stderr
    assert_inert(result.stdout + result.stderr)
    assert "\\x1b[2J\\x1b[H\\x1b[1;32mALL RECORDINGS VERIFIED OK" in result.stdout

    text = report.read_text()
    assert_inert(text)
    rows = list(csv.DictReader(text.splitlines()))
    cells = [cell for row in rows for cell in row.values() if cell]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]
    by_sid = {row["recording_sid"]: row for row in rows}
    assert by_sid["'" + HYPERLINK]["date_created"] == "'+cmd|' /C calc'!A0"
    assert {"'@sum(1+1)", "\\x1b]0;owned\\x07\\x0ddone"} <= {row["status"] for row in rows}


def test_backfill_summary_prints_hostile_rows_inert(space: Space, tmp_path: Path) -> None:
    result = run_cli(space, tmp_path, "backfill", "--dry-run", "--no-progress")
    assert_inert(result.stdout + result.stderr)
    assert "FAILED \\x1b[2J\\x1b[H\\x1b[1;32mALL RECORDINGS VERIFIED OK\\x1b[0m" in result.stdout
    assert "\\x1b]0;owned\\x07\\x0ddone: 1" in result.stdout


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("plain-é", "plain-é"),
        ("a\tb\r\nc", "a\\x09b\\x0d\\x0ac"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("\u202eevil\u200b", "\\u202eevil\\u200b"),
        ("\x9b2J", "\\x9b2J"),
    ],
)
def test_terminal_escapes_every_control_character(value: str, shown: str) -> None:
    assert terminal(value) == shown


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "\\x09=1"),
        ("\r=1", "\\x0d=1"),
        ("ok", "ok"),
        (-1, -1),
        (None, None),
        (True, True),
    ],
)
def test_csv_cells_starting_a_formula_are_quoted(value: object, cell: object) -> None:
    assert csv_cell(value) == cell


def test_console_log_lines_escape_what_they_quote(capsys: pytest.CaptureFixture[str]) -> None:
    configure([], console=True)
    get_logger().error("recording archive failed", recording_sid=FAKE_VERDICT, error="bad\rstatus")
    out = capsys.readouterr().out
    # The renderer colours its own output; what the fields quoted arrives escaped.
    assert "\x1b[2J" not in out and "\r" not in out
    assert "\\x1b[2J" in out and "bad\\x0dstatus" in out
