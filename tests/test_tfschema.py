"""The Terraform schema check: infra/ passes, and each planted mistake fails naming what is wrong."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tools.tfschema.pins import PACKAGES

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv-tfschema" / "bin" / "python"
SCHEMAS = ROOT / ".venv-tfschema" / "schemas"

pytestmark = pytest.mark.skipif(
    not (ROOT / ".venv-tfschema" / ".installed").exists(),
    reason="the schema checker's virtualenv is missing: `make .venv-tfschema/.installed` (make unit does it)",
)


def _check(directory: Path, schemas: Path = SCHEMAS) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_PYTHON), "-m", "tools.tfschema", "check", str(directory), "--schemas", str(schemas)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _copy_infra(tmp_path: Path) -> Path:
    target = tmp_path / "infra"
    target.mkdir()
    for path in (ROOT / "infra").glob("*.tf"):
        shutil.copy(path, target / path.name)
    return target


def _plant(directory: Path, filename: str, old: str, new: str) -> None:
    path = directory / filename
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} must occur once in infra/{filename} for the plant to mean anything"
    path.write_text(text.replace(old, new))


def test_the_schemas_come_from_the_pinned_packages() -> None:
    packages = {json.loads(path.read_text())["package"] for path in SCHEMAS.glob("*.json")}
    assert packages == {f"{name}@{version}" for name, (version, _) in PACKAGES.items()}


def test_infra_matches_the_provider_schemas() -> None:
    result = _check(ROOT / "infra")
    assert result.returncode == 0, result.stderr
    assert "infra matches" in result.stdout
    assert "google 6.50.0" in result.stdout


@pytest.mark.parametrize(
    ("filename", "old", "new", "expected"),
    [
        pytest.param(
            "functions.tf",
            'max_backoff        = "1800s"',
            'max_backof         = "1800s"',
            "resource google_cloud_tasks_queue.archive: retry_config: unknown argument 'max_backof'",
            id="misspelled-nested-attribute",
        ),
        pytest.param(
            "secrets.tf",
            "secret_data_wo         =",
            "secret_data_w0         =",
            "resource google_secret_manager_secret_version.signalwire: unknown argument 'secret_data_w0'",
            id="misspelled-attribute",
        ),
        pytest.param(
            "functions.tf",
            "stackdriver_logging_config {",
            "stackdriver_loging_config {",
            "resource google_cloud_tasks_queue.archive: unknown block 'stackdriver_loging_config'",
            id="misspelled-block",
        ),
        pytest.param(
            "main.tf",
            'dynamic "retention_policy" {',
            'dynamic "retention_polcy" {',
            "resource google_storage_bucket.archive: unknown block 'retention_polcy' (dynamic)",
            id="misspelled-dynamic-block",
        ),
        pytest.param(
            "functions.tf",
            'resource "google_cloud_scheduler_job" "sweep"',
            'resource "google_cloud_schedular_job" "sweep"',
            "unknown resource type 'google_cloud_schedular_job' in google 6.50.0",
            id="misspelled-resource-type",
        ),
        pytest.param(
            "main.tf",
            'data "google_storage_project_service_account" "gcs" {',
            'data "google_storage_project_service_acount" "gcs" {',
            "unknown data source 'google_storage_project_service_acount'",
            id="misspelled-data-source",
        ),
        pytest.param(
            "functions.tf",
            "TASKS_QUEUE           = google_cloud_tasks_queue.archive.id\n",
            "TASKS_QUEUE           = google_cloud_tasks_queue.archive.queue_id\n",
            "reference google_cloud_tasks_queue.archive.queue_id: google_cloud_tasks_queue has no attribute 'queue_id'",
            id="misspelled-reference",
        ),
        pytest.param(
            "iam.tf",
            'service_account_id = google_service_account.sa["invoker"].name',
            'service_account    = google_service_account.sa["invoker"].name',
            "required argument 'service_account_id' is missing",
            id="missing-required-argument",
        ),
        pytest.param(
            "functions.tf",
            "    retry_count = 1\n",
            '    retry_count = 1\n    state       = "ENABLED"\n',
            "retry_config: unknown argument 'state'",
            id="argument-in-the-wrong-block",
        ),
        pytest.param(
            "functions.tf",
            "  stackdriver_logging_config {\n    sampling_ratio = 1.0\n  }",
            "  stackdriver_logging_config = {\n    sampling_ratio = 1.0\n  }",
            "'stackdriver_logging_config' is a block, not an argument",
            id="block-written-as-argument",
        ),
        pytest.param(
            "functions.tf",
            "var.worker_timeout_seconds\n",
            "var.worker_timeout_second\n",
            "reference var.worker_timeout_second: no such variable",
            id="undeclared-variable",
        ),
    ],
)
def test_a_planted_mistake_fails_naming_it(tmp_path: Path, filename: str, old: str, new: str, expected: str) -> None:
    infra = _copy_infra(tmp_path)
    _plant(infra, filename, old, new)
    result = _check(infra)
    assert result.returncode == 1
    assert expected in result.stderr, result.stderr
    assert f"{infra}/{filename}: " in result.stderr


def test_a_resource_type_the_provider_removed_fails(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, schemas)
    google = json.loads((schemas / "google.json").read_text())
    del google["resources"]["google_cloud_tasks_queue"]
    (schemas / "google.json").write_text(json.dumps(google))

    result = _check(ROOT / "infra", schemas)
    assert result.returncode == 1
    removed = "unknown resource type 'google_cloud_tasks_queue'"
    assert f"resource google_cloud_tasks_queue.archive: {removed}" in result.stderr
    assert "reference google_cloud_tasks_queue.archive.id: unknown resource type" in result.stderr


def test_text_that_only_looks_like_a_reference_is_not_checked(tmp_path: Path) -> None:
    infra = _copy_infra(tmp_path)
    _plant(
        infra,
        "functions.tf",
        'description      = "Archive SignalWire recordings whose status callbacks were missed"',
        'description      = "Not an expression: google_cloud_tasks_queue.archive.nothing, var.nothing"',
    )
    result = _check(infra)
    assert result.returncode == 0, result.stderr
