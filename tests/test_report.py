"""`verify --report`: the auditor's page from a seeded archive, rendered in headless Chromium and read back."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from archiver.report import MAX_EXCEPTIONS, OUTSIDE, SERIES, Report, series_of
from localspace.processes import ROOT
from tests import browser
from tests.helpers import TOKEN, Harness, run_archiver

SINCE, UNTIL = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 8, tzinfo=UTC)
HOSTILE_SID = "<img src=x onerror=alert(1)>"
HOSTILE_DATE = "<script>alert('date')</script>"


def day(n: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, n, hour, tzinfo=UTC)


def seed(harness: Harness) -> dict[str, Any]:
    """Three days: archived (one under legal hold), missing, corrupt, deleted at SignalWire yet listed again,
    not final, and two rows whose SID and date are hostile markup."""
    space, archiver, store = harness.space, harness.archiver, harness.store
    recs = {
        "a1": space.add(size=8_000, created=day(3, 9)),
        "a2": space.add(size=8_000, created=day(3, 10)),
        "a3": space.add(size=8_000, created=day(3, 11)),
        "m1": space.add(size=8_000, created=day(4, 9)),
        "c1": space.add(size=8_000, created=day(4, 10)),
        "d1": space.add(size=8_000, created=day(4, 11)),
        "a4": space.add(size=8_000, created=day(5, 9)),
        "live": space.add(size=0, status="in-progress", created=day(5, 10)),
        "x1": space.add(size=8_000, sid=HOSTILE_SID, created=day(5, 11)),
        "x2": space.add(size=8_000, created=day(5, 12), listed_date=HOSTILE_DATE),
    }
    for name in ("a1", "a2", "a3", "c1", "a4"):
        assert archiver.archive(recs[name].sid).outcome == "archived"
    assert archiver.archive(recs["d1"].sid, delete=True).deleted is True
    space.recordings[recs["d1"].sid] = recs["d1"]  # SignalWire answered 204 but lists it again
    for key in archiver.keys_of(recs["a1"].sid, recs["a1"].metadata()):
        store.set_hold(key, True)
    audio_key = archiver.keys_of(recs["c1"].sid, recs["c1"].metadata()).audio
    (Path(harness.settings.archive_uri) / audio_key).write_bytes(b"\1" * 8_000)
    return recs


@pytest.fixture
def report_run(make_harness: Callable[..., Harness], tmp_path: Path) -> tuple[Path, list[dict[str, Any]], Harness]:
    """`python -m archiver verify ... --report` in a process of its own over the seeded local archive."""
    harness = make_harness(local=True)
    seed(harness)
    page, rows_file = tmp_path / "report.html", tmp_path / "rows.json"
    window = ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
    done = run_archiver(harness, "verify", *window, "--report", str(page), "--output", str(rows_file))
    assert done.returncode == 1, done.stdout + done.stderr  # missing and corrupt recordings
    assert f"auditor's report written to {page}" in done.stdout
    return page, json.loads(rows_file.read_text())["recordings"], harness


def test_report_page_says_what_the_rows_say_and_renders_in_chromium(
    report_run: tuple[Path, list[dict[str, Any]], Harness], tmp_path: Path
) -> None:
    page, rows, harness = report_run
    rows_file = page.with_name("rows.json")
    html = page.read_text()
    # Self-contained: nothing to fetch, nothing to run; and never a secret.
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b|<[a-z][^>]*\s(src|href)=|@import|url\(", html, re.I)
    assert TOKEN not in html and "PSK_" not in html
    assert "default-src 'none'" in html

    dom = browser.dump_dom(page)
    assert "<script" not in dom and "<img" not in dom  # the hostile SID and date stayed text
    png, pdf = tmp_path / "report.png", tmp_path / "report.pdf"
    browser.screenshot(page, png)
    browser.pdf(page, pdf)
    if target := os.environ.get("ARCHIVER_REPORT_EXAMPLE"):
        shutil.copyfile(png, target)
    text = browser.pdf_text(pdf)
    squashed = re.sub(r"\s+", "", text)

    results = Counter(row["result"] for row in rows)
    assert results == {"ok": 5, "missing": 1, "corrupt": 1, "failed": 2, "not_final": 1}
    for heading in ("Configuration", "Totals by result", "Per day", "Exceptions", "Checking a copy"):
        assert heading in text
    assert harness.settings.project_id in squashed
    # The exceptions, each with its reason, hostile markup shown as the characters it is.
    for row in rows:
        if row["result"] in ("missing", "corrupt", "failed"):
            assert row["recording_sid"].replace(" ", "") in squashed
    assert HOSTILE_SID.replace(" ", "") in squashed and "alert('date')" in squashed
    assert "SignalWirestilllistsitafterarecordeddelete" in squashed

    # The digest is the one docs/audit.md's own command recomputes from verify's --output file.
    doc = (ROOT / "docs/audit.md").read_text()
    command = re.search(r"\*\*Checking a copy\.\*\*.*?\n```\n(python -c '.*?' rows\.json)\n```", doc, re.S)
    assert command is not None
    script = command.group(1).removeprefix("python -c '").removesuffix("' rows.json")
    recomputed = subprocess.run(
        [sys.executable, "-c", script, str(rows_file)], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", recomputed) and recomputed in squashed

    # Totals by result, as the page shows them.
    totals = dict(re.findall(r"<tr><td>(\w+)</td><td>(\d+)</td></tr>", _section(dom, "totals")))
    assert {k: int(v) for k, v in totals.items()} == dict(results)


def test_the_charts_bars_match_the_totals_as_rendered(
    report_run: tuple[Path, list[dict[str, Any]], Harness], tmp_path: Path
) -> None:
    page, rows, _ = report_run
    # The rendered height of every bar, written into the DOM by a measuring script in a copy of the page
    # (the page itself forbids scripts; the policy does not change layout).
    html = page.read_text()
    measured = tmp_path / "measured.html"
    measured.write_text(
        re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html).replace("</body>", _MEASURE + "</body>")
    )
    dom = browser.dump_dom(measured)
    bars = [dict(re.findall(r'([\w-]+)="([^"]*)"', tag)) for tag in re.findall(r"<rect [^>]*>", dom)]
    assert len(bars) == len(SERIES) * 8  # every day of the window, and the rows outside it
    scale = float(re.search(r'data-scale="([\d.]+)"', dom).group(1))  # type: ignore[union-attr]

    expected: dict[str, Counter[str]] = {}
    for row in rows:
        try:
            created = datetime.strptime(row["date_created"], "%a, %d %b %Y %H:%M:%S %z").astimezone(UTC)
            key = created.date().isoformat() if SINCE <= created < UNTIL else OUTSIDE
        except ValueError:
            key = OUTSIDE
        expected.setdefault(key, Counter()).update(series_of(row))
    by_series: Counter[str] = Counter()
    for bar in bars:
        count = int(bar["data-count"])
        assert count == expected.get(bar["data-day"], Counter())[bar["data-series"]], bar
        # What the browser drew: height proportional to the count, one scale for every bar.
        assert abs(float(bar["data-rendered-height"]) - count * scale) < 0.6, bar
        by_series[bar["data-series"]] += count
    shown = dict(re.findall(r"<tr><td>([\w ]+)</td><td>(\d+)</td></tr>", _section(dom, "series-totals")))
    assert {name: int(shown[label]) for name, (label, _) in SERIES.items()} == {n: by_series[n] for n in SERIES}
    assert by_series == Counter(listed=10, archived=5, missing=1, corrupt=1, held=1, deleted=1)
    # The tallest bar is the chart's full height.
    assert max(float(bar["data-rendered-height"]) for bar in bars) == pytest.approx(200.0, abs=0.6)


_MEASURE = """<script>
for (const bar of document.querySelectorAll('rect[data-series]'))
  bar.setAttribute('data-rendered-height', bar.getBoundingClientRect().height.toFixed(3));
</script>"""


def _section(dom: str, table_id: str) -> str:
    found = re.search(rf'<table id="{table_id}">(.*?)</table>', dom, re.S)
    assert found is not None, table_id
    return found.group(1)


def test_memory_is_bounded_by_days_and_the_exception_cap_not_by_rows() -> None:
    """A month of rows from a listing that lies: every date different, most outside the window, all failing."""
    report = Report(SINCE, UNTIL, {})
    rows = 20_000
    for n in range(rows):
        created = SINCE + timedelta(minutes=37 * n)
        report.add(
            {
                "recording_sid": f"sid-{n}",
                "date_created": created.strftime("%a, %d %b %Y %H:%M:%S +0000"),
                "status": "completed",
                "result": "missing",
                "detail": "<b>" + "x" * 10_000,
            }
        )
    assert report.rows == rows and report.exception_count == rows
    assert len(report.exceptions) == MAX_EXCEPTIONS
    assert len(report.days) == (UNTIL - SINCE).days + 1  # the window's days, and one key for the rest
    assert all(len(e["detail"]) <= 600 for e in report.exceptions)
    html = report.html()
    assert html.count("<rect ") == len(SERIES) * ((UNTIL - SINCE).days + 1)
    # A month's days, and a year's, share the page's width.
    for days in (31, 366):
        month = Report(SINCE, SINCE + timedelta(days=days), {})
        month.add({"recording_sid": "s", "date_created": "Tue, 03 Nov 2026 10:00:00 +0000", "result": "ok"})
        chart = month.html()
        assert chart.count("<rect ") == len(SERIES) * days
        assert int(re.search(r'<svg [^>]*width="(\d+)"', chart).group(1)) <= 960  # type: ignore[union-attr]
    assert f"The first {MAX_EXCEPTIONS} of {rows} are listed" in html
    assert "<b>" not in html and "&lt;b&gt;" in html


def test_an_empty_window_says_so() -> None:
    html = Report(SINCE, UNTIL, {"archive": "gs://bucket/calls"}).html()
    assert "No recordings were listed in the window." in html and "<svg" not in html
    assert "None: every recording listed is archived" in html


def test_misnamed_and_unknown_status_rows_are_exceptions_an_auditor_reads() -> None:
    """Before: both were only counted in the totals; a misnamed archive was not even counted as archived."""
    report = Report(SINCE, UNTIL, {})
    base = {"date_created": "Tue, 03 Nov 2026 10:00:00 +0000", "status": "completed"}
    report.add({**base, "recording_sid": "m", "result": "misnamed", "detail": "holds mp3 (ID3v2 tag) under .wav"})
    report.add({**base, "recording_sid": "u", "status": "vanished", "result": "unknown_status", "detail": "status"})
    assert [(e["result"], e["recording_sid"]) for e in report.exceptions] == [
        ("misnamed", "m"),
        ("unknown_status", "u"),
    ]
    assert report.series_totals["archived"] == 1
    assert "holds mp3 (ID3v2 tag) under .wav" in report.html()


def test_hostile_text_in_every_column_a_row_can_carry_stays_text() -> None:
    """Markup, CSS and SVG in each value SignalWire or the archive can put in a row: the page's only markup is its own.
    Held before this review too; kept as the check for every column the page shows."""
    hostile = '</style></table><svg onload=alert(1)><style>*{background:url(//x)}</style>"><a href=//x>'
    report = Report(SINCE, UNTIL, {"SignalWire space": hostile})
    report.add(
        {
            "recording_sid": hostile,
            "date_created": "Tue, 03 Nov 2026 10:00:00 +0000",
            "status": hostile,
            "result": "corrupt",
            "detail": hostile,
            "signalwire_copy": "listed_after_delete",
            "deletion_evidence": hostile,
        }
    )
    report.add({"recording_sid": "s", "date_created": hostile, "result": "failed", "detail": hostile})
    html = report.html()
    assert hostile not in html
    for raw in ("<svg onload", "<a href", "</style></table>", "<style>*"):  # as text, `url(//x)` is inert
        assert raw not in html
    assert html.count("<svg") == 1 and html.count("<style>") == 1 and html.count("</table>") == 4
