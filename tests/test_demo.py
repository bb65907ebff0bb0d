"""`make demo` as a newcomer runs it: every answer as expected, exact bytes, no process left behind."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import requests

from localspace.processes import ROOT


def test_demo_runs_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "demo.run"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for answer in ("→ 200 ignored", "→ 200 archived", "→ 200 already_archived", "→ 403 rejected"):
        assert answer in out
    assert re.search(r"SWML record_call finished \(JSON event\) +→ 200 archived", out)
    assert re.search(r"SWML record finished \(JSON event\) +→ 200 archived", out)
    assert "OK: all three archived MP3s (cXML, SWML record_call, SWML record) are byte-identical" in out
    # The archive is kept for the newcomer to look at and play.
    assert "The archive stays in demo-archive/" in out
    kept = list((ROOT / "demo-archive").rglob("*.mp3"))
    assert len(kept) == 3
    assert list((ROOT / "demo-archive").rglob("*.wav")) == []
    assert all(path.read_bytes() == (ROOT / "demo" / "hello.mp3").read_bytes() for path in kept)
    # Both servers the demo started (it prints their URLs) are gone once it has exited.
    for url in re.findall(r"http://127\.0\.0\.1:\d+", out.split("callbacks sent")[0]):
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=5)
