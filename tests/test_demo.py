"""`make demo` as a newcomer runs it: every answer as expected, exact bytes, no process left behind."""

from __future__ import annotations

import subprocess
import sys

from tests.servers import ROOT


def test_demo_runs_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "demo.run"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for answer in ("→ 200 ignored", "→ 200 archived", "→ 200 already_archived", "→ 403 rejected"):
        assert answer in out
    assert "OK: the archived MP3 is byte-identical" in out
    leftovers = subprocess.run(
        ["pgrep", "-f", "tests.standin|functions_framework --target"], capture_output=True, text=True, check=False
    )
    assert leftovers.returncode == 1, f"processes left running: {leftovers.stdout}"
