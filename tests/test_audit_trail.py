"""The audit trail: infra/audit.tf's sink filter and docs/audit.md's SQL, checked against lines the code emits."""

from __future__ import annotations

import ast
import io
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from archiver import cli
from archiver.holds import Selection, apply_hold
from archiver.webhook import handle_sweep, handle_task
from localspace.space import Fault
from tests.helpers import TASKS_LOCATION, Harness, audit_lines, env_for
from tests.tasks_stub import NamingQueue

ROOT = Path(__file__).resolve().parent.parent
PROJECT, BUCKET = "audit-project", "audit-bucket"
CREATED = datetime(2026, 11, 3, 12, tzinfo=UTC)

# --- the lines the code emits -------------------------------------------------------------------


@pytest.fixture
def emitted(
    make_harness: Callable[..., Harness], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, list[dict[str, Any]]]:
    """Real audit lines by entry point (main.py's function names) and from the hold command, covering every
    outcome an auditor's query asks about: archived and deleted, already archived, failed, corrupt,
    rejected, found by the sweep, held."""
    harness = make_harness(DELETE_AFTER_ARCHIVE="true")
    space = harness.space
    lines: dict[str, list[dict[str, Any]]] = {}
    capsys.readouterr()

    # Recent: a duplicate callback after the delete finds it among the last two days' names.
    archived = space.add(size=20_000, created=datetime.now(UTC) - timedelta(minutes=3))
    # Outside the sweeps' window below, so that one sweep can end well.
    failing = space.add(size=20_000, created=datetime(2026, 11, 20, tzinfo=UTC))
    space.fault(failing.sid, "media", *[Fault(500)] * 1000)
    harness.post(harness.form(archived.sid))
    harness.post(harness.form(archived.sid))
    harness.post(harness.form(failing.sid))
    harness.post(harness.form(archived.sid), key="PSK_wrong")
    lines["archive_recording"] = audit_lines(capsys.readouterr().out)

    tasked = space.add(size=20_000, created=CREATED)
    body = json.dumps({"recording_sid": tasked.sid, "source": "sweep"}).encode()
    assert handle_task(harness.service, "POST", {}, io.BytesIO(body)).status == 200
    lines["archive_task"] = audit_lines(capsys.readouterr().out)

    missed = space.add(size=20_000, created=CREATED)
    kept = make_harness(local=True)
    corrupt = kept.space.add(size=20_000, created=CREATED)
    assert kept.archiver.archive(corrupt.sid).outcome == "archived"
    audio_key = kept.archiver.keys_of(corrupt.sid, corrupt.metadata()).audio
    (Path(kept.settings.archive_uri) / audio_key).write_bytes(b"\0" * 20_000)
    window = json.dumps({"since": "2026-11-01T00:00:00Z", "until": "2026-11-05T00:00:00Z"}).encode()
    # The local archive's sweep finds the corrupt one; then the bucket's, which deletes at SignalWire, ends well.
    handle_sweep(kept.service, "POST", {}, io.BytesIO(window))
    handle_sweep(harness.service, "POST", {}, io.BytesIO(window))
    lines["reconcile_recordings"] = audit_lines(capsys.readouterr().out)
    assert any(line.get("recording_sid") == missed.sid for line in lines["reconcile_recordings"])

    # Queued mode: the sweep hands what it finds missing to Cloud Tasks (a gRPC stand-in that keeps names).
    late = space.add(size=20_000, created=CREATED)
    queue = NamingQueue().start()
    try:
        queued = make_harness(
            TASKS_QUEUE=f"{TASKS_LOCATION}/queues/archive",
            TASKS_WORKER_URL="https://worker.example.com/archive_task",
            TASKS_SERVICE_ACCOUNT="tasks-invoker@test-project.iam.gserviceaccount.com",
            CLOUD_TASKS_EMULATOR_HOST=queue.host,
        )
        handle_sweep(queued.service, "POST", {}, io.BytesIO(window))
    finally:
        queue.stop()
    lines["reconcile_recordings"] += audit_lines(capsys.readouterr().out)
    assert any(line.get("recording_sid") == late.sid for line in lines["reconcile_recordings"])

    # The command line: backfill and hold, as an operator runs them.
    for key, value in env_for(space, ARCHIVE_URI=kept.settings.archive_uri).items():
        monkeypatch.setenv(key, value)
    cli.main(["backfill", "--since", "2026-11-01", "--until", "2026-11-05", "--no-progress"])
    apply_hold(kept.store, kept.settings.project_id, Selection(recording=corrupt.sid), held=True, reason="test")
    lines["command_line"] = audit_lines(capsys.readouterr().out)
    outcomes = {line.get("outcome") for group in lines.values() for line in group}
    assert {"archived", "already_archived", "failed", "corrupt", "rejected", "sweep_ok", "queued", "held"} <= outcomes
    assert any(line.get("source") == "backfill" for line in lines["command_line"])
    return lines


# --- infra/audit.tf's filter, evaluated -----------------------------------------------------------


def hcl_map(text: str, name: str) -> dict[str, str]:
    """`name = { key = "string" ... }` from HCL: the string values, HCL escapes undone, interpolations kept."""
    body = re.search(rf"\n\s*{name}\s*=\s*\{{\n(.*?)\n\s*\}}\n", text, re.S)
    assert body is not None, f"{name} not found"
    pairs = re.findall(r'^\s*(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$', body.group(1), re.M)
    return {key: value.replace('\\"', '"') for key, value in pairs}


def deployed_functions() -> dict[str, str]:
    """Entry point → Cloud Run service name, as main.tf and functions.tf deploy them (no name_prefix)."""
    names = hcl_map((ROOT / "infra/main.tf").read_text(), "function_names")
    functions = (ROOT / "infra/functions.tf").read_text()
    entry_points = dict(re.findall(r'\n\s{4}(\w+) = \{\n\s+entry_point\s+=\s+"(\w+)"', functions))
    assert set(entry_points) == set(names), (entry_points, names)
    return {entry_points[key]: names[key].replace("${local.prefix}", "") for key in names}


def sink_filter(services: dict[str, str]) -> str:
    """The sink's filter as Terraform builds it from audit.tf's clauses, for this deployment's names."""
    text = (ROOT / "infra/audit.tf").read_text()
    assert "filter      = local.audit_log_filter" in text
    assert re.search(r'audit_log_filter = join\(" OR ", \[for key in sort\(keys\(local.audit_log_filters\)\)', text)
    quoted = " OR ".join(f'"{services[entry]}"' for entry in sorted(services, key=lambda e: services[e]))
    values = {"local.audit_function_names": quoted, "local.bucket_name": BUCKET, "var.project_id": PROJECT}
    clauses = []
    for _key, clause in sorted(hcl_map(text, "audit_log_filters").items()):
        clause = re.sub(r"\$\{([\w.]+)\}", lambda m: values[m.group(1)], clause)
        assert "${" not in clause, clause
        clauses.append(f"({clause})")
    return " OR ".join(clauses)


_TERM = re.compile(r'([\w.]+)=(\("[^"]*"(?: OR "[^"]*")*\)|"[^"]*")')


def matches(log_filter: str, entry: dict[str, Any]) -> bool:
    """Cloud Logging's filter language, the part the sink uses: `(clause) OR (clause)`, each clause
    `path="v"` or `path=("v" OR "w")` terms joined by AND. Anything else fails the test, not the match."""
    clauses = re.findall(r"\(((?:[^()]|\([^()]*\))*)\)(?: OR |$)", log_filter)
    assert " OR ".join(f"({c})" for c in clauses) == log_filter, "filter syntax this evaluator does not know"
    for clause in clauses:
        terms = _TERM.findall(clause)
        assert " AND ".join(f"{path}={value}" for path, value in terms) == clause, clause
        if all(_value(entry, path) in re.findall(r'"([^"]*)"', value) for path, value in terms):
            return True
    return False


def _value(entry: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        entry = entry.get(part) if isinstance(entry, dict) else None  # type: ignore[assignment]
    return entry


def as_cloud_run_entry(service: str, line: dict[str, Any]) -> dict[str, Any]:
    """The LogEntry Cloud Run makes of one JSON line on a function's stdout."""
    return {
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": service}},
        "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2Fstdout",
        "severity": line["severity"],
        "jsonPayload": line,
    }


def storage_audit_entry(bucket: str, kind: str = "data_access") -> dict[str, Any]:
    return {
        "resource": {"type": "gcs_bucket", "labels": {"bucket_name": bucket}},
        "logName": f"projects/{PROJECT}/logs/cloudaudit.googleapis.com%2F{kind}",
        "protoPayload": {"serviceName": "storage.googleapis.com", "methodName": "storage.objects.get"},
    }


def test_every_entry_point_is_deployed_under_a_name_the_sink_routes() -> None:
    tree = ast.parse((ROOT / "main.py").read_text())
    entry_points = {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(ast.unparse(d) == "functions_framework.http" for d in node.decorator_list)
    }
    assert entry_points == {"archive_recording", "archive_task", "reconcile_recordings"} == set(deployed_functions())


def test_the_sink_routes_every_audit_line_of_the_three_functions(emitted: dict[str, list[dict[str, Any]]]) -> None:
    services = deployed_functions()
    log_filter = sink_filter(services)
    for entry_point in ("archive_recording", "archive_task", "reconcile_recordings"):
        assert emitted[entry_point], entry_point
        for line in emitted[entry_point]:
            # Cloud Run makes a jsonPayload only of one JSON object per line, with `severity` for the level.
            assert {"message", "severity"} <= set(line)
            assert matches(log_filter, as_cloud_run_entry(services[entry_point], line)), line
            # The filter selects by origin: the same line from another service is not routed.
            assert not matches(log_filter, as_cloud_run_entry("some-other-service", line))
    assert matches(log_filter, storage_audit_entry(BUCKET))
    assert matches(log_filter, storage_audit_entry(BUCKET, "activity"))
    assert not matches(log_filter, storage_audit_entry("another-bucket"))
    assert not matches(log_filter, storage_audit_entry(BUCKET, "system_event"))


def test_storage_reads_are_audited_and_the_checkov_skip_says_so() -> None:
    audit = (ROOT / "infra/audit.tf").read_text()
    assert re.search(r'service = "storage.googleapis.com"\s+audit_log_config \{\s+log_type = "DATA_READ"', audit)
    skip = re.search(r"#checkov:skip=CKV_GCP_62:(.*)", (ROOT / "infra/main.tf").read_text())
    assert skip is not None and "audit.tf enables Data Access logs (DATA_READ" in skip.group(1)


# --- docs/audit.md's SQL, against the emitted fields ------------------------------------------------

_FIELD = re.compile(r"JSON_VALUE\(json_payload, '\$\.([\w.]+)'\)")
_COMPARED = re.compile(r"JSON_VALUE\(json_payload, '\$\.(outcome|source)'\)\s*(?:=\s*'(\w+)'|IN \(([^)]*)\))")


def test_documented_fields_and_values_are_the_ones_emitted(emitted: dict[str, list[dict[str, Any]]]) -> None:
    doc = (ROOT / "docs/audit.md").read_text()
    lines = [line for group in emitted.values() for line in group]
    documented = set(_FIELD.findall(doc))
    assert {"recording_sid", "call_sid", "deleted", "evidence.audio_sha256", "missed_by_callbacks"} <= documented
    for path in sorted(documented):
        assert any(_value(line, path) is not None for line in lines), f"docs/audit.md asks for {path}, never emitted"
    compared = _COMPARED.findall(doc)
    assert compared
    for field_name, single, many in compared:
        for value in [single] if single else re.findall(r"'(\w+)'", many):
            assert any(line.get(field_name) == value for line in lines), (field_name, value)
    # JSON_VALUE renders a JSON boolean as 'true' / 'false'.
    assert "JSON_VALUE(json_payload, '$.deleted') = 'true'" in doc
    assert any(line.get("deleted") is True for line in lines)
