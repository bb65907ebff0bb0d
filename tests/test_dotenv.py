"""`python -m archiver` reads `./.env` with `make run`'s rule: a variable exported in the shell wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from localspace.__main__ import DEMO_SID
from localspace.processes import ROOT


def test_the_command_line_reads_dotenv_and_exported_variables_win(space_process: list[str], tmp_path: Path) -> None:
    """The README's recipe as a newcomer types it: `make space`'s lines in .env, then the bare command."""
    lines = [line.strip() for line in space_process if line.startswith(("SIGNALWIRE_", "PUBLIC_URL"))]
    assert len(lines) == 5, space_process
    (tmp_path / ".env").write_text("\n".join([*lines, f"ARCHIVE_URI={tmp_path / 'from-dotenv'}", ""]))
    # Nothing of SignalWire's in the shell: the credentials can only come from .env.
    shell = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNALWIRE_", "PUBLIC_URL", "ARCHIVE_"))}
    shell |= {"PYTHONPATH": str(ROOT), "ARCHIVE_URI": str(tmp_path / "exported")}
    command = [sys.executable, "-m", "archiver", "backfill", "--since", "2026-01-01", "--no-progress"]
    result = subprocess.run(command, cwd=tmp_path, env=shell, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert list((tmp_path / "exported").rglob(f"{DEMO_SID}.mp3")), result.stdout
    assert not (tmp_path / "from-dotenv").exists()


def test_without_dotenv_the_command_line_names_what_is_missing(tmp_path: Path) -> None:
    shell = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNALWIRE_", "PUBLIC_URL", "ARCHIVE_"))}
    command = [sys.executable, "-m", "archiver", "verify", "--since", "2026-01-01"]
    result = subprocess.run(
        command, cwd=tmp_path, env=shell | {"PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "SIGNALWIRE_" in result.stderr, result.stderr
