"""The auditor's page: verify's rows, taken as a stream, as one self-contained HTML file with a per-day SVG chart."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

from archiver import __version__
from archiver.config import Settings
from archiver.recordings import parse_date
from archiver.verify import VERIFY_COLUMNS

# What the chart shows per day, in order, with the colour of its bars.
SERIES = {
    "listed": ("recordings listed", "#6b7280"),
    "archived": ("archived", "#15803d"),
    "missing": ("missing", "#d97706"),
    "corrupt": ("corrupt", "#b91c1c"),
    "held": ("under legal hold", "#7c3aed"),
    "deleted": ("deleted at SignalWire", "#0369a1"),
}
# Results that mean the archive holds the recording and it agrees with its manifest.
_ARCHIVED = frozenset({"ok", "unverified_size", "not_retained", "misnamed"})
# Results an auditor needs to read one by one; `ok`, `no_audio` and `not_final` are only counted.
_EXCEPTIONS = frozenset(
    {"missing", "corrupt", "failed", "unverified_size", "not_retained", "misnamed", "unknown_status"}
)
# Where SignalWire's copy stands, when an auditor must read it: listed after a delete, or a record that proves nothing.
_COPY_EXCEPTIONS = {
    "listed_after_delete": "listed after delete",
    "deletion_record_mismatch": "deletion record mismatch",
}
# The page lists this many exceptions; the totals still count every one.
MAX_EXCEPTIONS = 500
# Rows whose date is unreadable or outside the window are counted under one key, so a listing that
# invents dates cannot make the report hold a day per row.
OUTSIDE = "outside the window"
_DETAIL_MAX = 600

_CHART_HEIGHT = 200.0
# The plot is this wide whatever the window: a month's days share it, each at most _GROUP_MAX wide.
_PLOT_WIDTH = 900.0
_GROUP_MAX = 88.0
_LEFT = 44.0


def configuration_of(settings: Settings, *, read_bytes: bool) -> dict[str, str]:
    """What the report says about how it was made: named settings only, so a secret can never be among them."""
    days = settings.object_retention_days
    shown = {
        "SignalWire space": settings.space_url,
        "SignalWire project": settings.project_id,
        "archive": settings.archive_uri,
        "recording format": settings.recording_format,
        "delete at SignalWire after archiving": "yes" if settings.delete_after_archive else "no",
        "object retention": f"{days} days ({settings.object_retention_mode})" if days else "off",
        "queued mode": settings.tasks_queue or "off",
        "stored bytes read back": "yes" if read_bytes else "no (--metadata-only: GCS's CRC32C trusted)",
        "archiver version": __version__,
    }
    # Belt and braces: a value that somehow carries a secret is withheld, never printed.
    return {k: "(withheld)" if any(s in v for s in settings.secrets) else v for k, v in shown.items()}


def row_digest_line(row: Mapping[str, Any]) -> bytes:
    """One row as the digest reads it: verify's columns in order, each value as text, as a compact JSON array."""
    values = ["" if row.get(column) is None else str(row.get(column)) for column in VERIFY_COLUMNS]
    return (json.dumps(values, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def series_of(row: Mapping[str, Any]) -> list[str]:
    """The chart's series a row counts in."""
    result = row.get("result")
    # A stored pair SignalWire no longer lists (verify's archive view) was not listed in the window.
    found = [] if row.get("view") == "archive" else ["listed"]
    if result in _ARCHIVED:
        found.append("archived")
    elif result in ("missing", "corrupt"):
        found.append(str(result))
    if row.get("held") is True:
        found.append("held")
    if row.get("signalwire_copy") in ("deleted", "listed_after_delete"):
        found.append("deleted")
    return found


@dataclass
class Report:
    """Aggregates rows as they come: counts per day and per result, a capped list of exceptions, a digest.

    Memory is bounded by the window's days and MAX_EXCEPTIONS, never by the number of rows.
    """

    since: datetime
    until: datetime
    configuration: dict[str, str]
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    rows: int = 0
    totals: Counter[str] = field(default_factory=Counter)
    series_totals: Counter[str] = field(default_factory=Counter)
    days: dict[date | str, Counter[str]] = field(default_factory=dict)
    exceptions: list[dict[str, str]] = field(default_factory=list)
    exception_count: int = 0
    _digest: Any = field(default_factory=hashlib.sha256)

    def add(self, row: Mapping[str, Any]) -> None:
        self.rows += 1
        self._digest.update(row_digest_line(row))
        result = str(row.get("result") or "")
        self.totals[result] += 1
        day = self._day(row)
        counts = self.days.setdefault(day, Counter())
        for name in series_of(row):
            counts[name] += 1
            self.series_totals[name] += 1
        copy = str(row.get("signalwire_copy") or "")
        if result in _EXCEPTIONS or copy in _COPY_EXCEPTIONS:
            self.exception_count += 1
            if len(self.exceptions) < MAX_EXCEPTIONS:
                self.exceptions.append(
                    {
                        "result": result if result in _EXCEPTIONS else f"{result}, {_COPY_EXCEPTIONS[copy]}",
                        "recording_sid": str(row.get("recording_sid") or ""),
                        "date_created": str(row.get("date_created") or ""),
                        "detail": _exception_detail(row)[:_DETAIL_MAX],
                    }
                )

    def add_all(self, rows: Iterable[Mapping[str, Any]]) -> Report:
        for row in rows:
            self.add(row)
        return self

    @property
    def digest(self) -> str:
        return str(self._digest.hexdigest())

    def _day(self, row: Mapping[str, Any]) -> date | str:
        try:
            created = parse_date(row.get("date_created"))
        except ValueError:
            return OUTSIDE
        return created.date() if self.since <= created < self.until else OUTSIDE

    def write(self, path: Path) -> None:
        path.write_text(self.html(), encoding="utf-8")

    def html(self) -> str:
        return _PAGE.format(
            title=escape(f"Recording archive report {self.since:%Y-%m-%d} to {self.until:%Y-%m-%d}"),
            window=escape(f"{self.since:%Y-%m-%d %H:%M:%S} → {self.until:%Y-%m-%d %H:%M:%S} UTC"),
            generated=escape(f"{self.generated_at:%Y-%m-%d %H:%M:%S} UTC"),
            configuration=_table(("setting", "value"), sorted(self.configuration.items())),
            totals=_table(("result", "recordings"), [(k, str(v)) for k, v in sorted(self.totals.items())], "totals"),
            series=_table(
                ("per day chart", "recordings"),
                [(label, str(self.series_totals[name])) for name, (label, _) in SERIES.items()],
                "series-totals",
            ),
            legend="".join(
                f'<li><span class="swatch" style="background:{colour}"></span>{escape(label)}</li>'
                for label, colour in SERIES.values()
            ),
            chart=_chart(self.days, _window_days(self.since, self.until)),
            exceptions=self._exceptions(),
            rows=self.rows,
            digest=self.digest,
            columns=escape(", ".join(VERIFY_COLUMNS)),
        )

    def _exceptions(self) -> str:
        if not self.exception_count:
            return '<p class="empty">None: every recording listed is archived, verified and retained as configured.</p>'
        rows = [(e["result"], e["recording_sid"], e["date_created"], e["detail"]) for e in self.exceptions]
        table = _table(("result", "recording", "created", "reason"), rows, "exceptions")
        shown = len(self.exceptions)
        if shown < self.exception_count:
            more = self.exception_count - shown
            table += f'<p class="note">The first {shown} of {self.exception_count} are listed; {more} more are '
            table += "in verify's --output file.</p>"
        return table


def _window_days(since: datetime, until: datetime) -> list[date]:
    """Every day the window touches, so a day without recordings shows as an empty place, not a gap."""
    last = (until - timedelta(microseconds=1)).date()
    return [since.date() + timedelta(days=n) for n in range((last - since.date()).days + 1)]


def _chart(days: Mapping[date | str, Counter[str]], window: list[date]) -> str:
    """Grouped bars per day, each bar's height its count times one scale; bars carry their day, series and
    count so a reader (or a test) can check every one against the totals."""
    if not days:
        return '<p class="empty">No recordings were listed in the window.</p>'
    keys: list[date | str] = [*window, *([OUTSIDE] if OUTSIDE in days else [])]
    peak = max(count for counts in days.values() for count in counts.values())
    scale = _CHART_HEIGHT / peak
    group = min(_GROUP_MAX, _PLOT_WIDTH / len(keys))
    bar = group * 0.8 / len(SERIES)
    # Day labels are about 36 px wide: one every `step` groups keeps them apart.
    step = max(1, int(-(-36 // group)))
    top, bottom = 16.0, 16.0 + _CHART_HEIGHT
    width = _LEFT + group * len(keys) + 16
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{bottom + 40:.0f}" '
        f'data-scale="{scale:.6f}" role="img" aria-label="recordings per day">',
        f'<line x1="{_LEFT - 4}" y1="{bottom}" x2="{width:.0f}" y2="{bottom}" stroke="#9ca3af"/>',
        f'<text x="{_LEFT - 8}" y="{top + 4}" text-anchor="end" class="axis">{peak}</text>',
        f'<text x="{_LEFT - 8}" y="{bottom}" text-anchor="end" class="axis">0</text>',
    ]
    empty: Counter[str] = Counter()
    for index, key in enumerate(keys):
        x0 = _LEFT + index * group
        day = key.isoformat() if isinstance(key, date) else OUTSIDE
        counts = days.get(key, empty)
        for position, (name, (label, colour)) in enumerate(SERIES.items()):
            height = counts[name] * scale
            parts.append(
                f'<rect x="{x0 + position * bar:.3f}" y="{bottom - height:.3f}" width="{bar * 0.9:.3f}" '
                f'height="{height:.3f}" fill="{colour}" data-day="{escape(day)}" data-series="{name}" '
                f'data-count="{counts[name]}"><title>{escape(f"{day}: {counts[name]} {label}")}</title></rect>'
            )
        if index % step == 0 or not isinstance(key, date):
            text = key.strftime("%m-%d") if isinstance(key, date) else "other"
            parts.append(
                f'<text x="{x0 + bar * len(SERIES) / 2:.1f}" y="{bottom + 14}" text-anchor="middle" '
                f'class="axis">{escape(text)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _exception_detail(row: Mapping[str, Any]) -> str:
    detail = str(row.get("detail") or "")
    evidence = str(row.get("deletion_evidence") or "")
    copy = row.get("signalwire_copy")
    if copy == "listed_after_delete":
        detail = "; ".join(
            part for part in (detail, f"SignalWire still lists it after a recorded delete: {evidence}") if part
        )
    elif copy == "deletion_record_mismatch":
        detail = "; ".join(part for part in (detail, f"a deletion record that does not match: {evidence}") if part)
    return detail


def _table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]], css_id: str = "") -> str:
    head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    ident = f' id="{css_id}"' if css_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# No script, no external font, image or style: the page renders the same offline, and the policy below
# stops anything that would try to load.
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 2rem;
  color: #111827; max-width: 72rem; }}
h1 {{ font-size: 1.4rem; }} h2 {{ font-size: 1.1rem; margin-top: 2rem; }}
table {{ border-collapse: collapse; margin: .5rem 0; }}
th, td {{ border: 1px solid #d1d5db; padding: .25rem .6rem; text-align: left; vertical-align: top; }}
td {{ overflow-wrap: anywhere; }} th {{ background: #f3f4f6; }}
#exceptions td:nth-child(2) {{ white-space: nowrap; }} #exceptions td:nth-child(4) {{ max-width: 40rem; }}
.axis {{ font-size: 10px; fill: #374151; }}
.legend {{ list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 1rem; }}
.swatch {{ display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; vertical-align: middle; }}
.digest {{ font-family: ui-monospace, "DejaVu Sans Mono", monospace; overflow-wrap: anywhere; }}
.note, .empty {{ color: #4b5563; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>Window: {window}. Generated {generated}. {rows} recordings listed by SignalWire in the window.</p>
<h2>Configuration</h2>
{configuration}
<h2>Totals by result</h2>
{totals}
{series}
<h2>Per day</h2>
<ul class="legend">{legend}</ul>
{chart}
<h2>Exceptions</h2>
{exceptions}
<h2>Checking a copy</h2>
<p>SHA-256 of the {rows} rows: <span class="digest" id="digest">{digest}</span></p>
<p class="note">Each row is verify's columns ({columns}) in that order, each value as text, written as a
compact JSON array and a newline, in listing order; docs/audit.md shows how to recompute it from
verify's --output file.</p>
</body>
</html>
"""
