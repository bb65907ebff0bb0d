"""Headless Chromium (Debian's `chromium`), as a person would see a page: its DOM after rendering, a PNG, a PDF."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

# Nothing leaves the machine: no sync, no component or background updates, no QUIC probes.
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def binary() -> str:
    found = shutil.which("chromium")
    if found is None:
        raise AssertionError("headless Chromium is needed: apt-get install chromium (.ci/run installs it)")
    return found


def run(page: Path, *args: str) -> str:
    """Render `page` with these extra flags; returns Chromium's stdout (the DOM, with --dump-dom)."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [binary(), *_FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dump_dom(page: Path) -> str:
    return run(page, "--dump-dom")


def screenshot(page: Path, png: Path, width: int = 1200, height: int = 2300) -> None:
    run(page, f"--screenshot={png}", f"--window-size={width},{height}", "--hide-scrollbars")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def pdf(page: Path, out: Path) -> None:
    run(page, f"--print-to-pdf={out}", "--no-pdf-header-footer")
    assert out.read_bytes()[:5] == b"%PDF-"


def pdf_text(path: Path) -> str:
    """The PDF's text, as poppler's pdftotext reads it."""
    tool = shutil.which("pdftotext")
    if tool is None:
        raise AssertionError("pdftotext is needed: apt-get install poppler-utils (.ci/run installs it)")
    done = subprocess.run([tool, str(path), "-"], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout
