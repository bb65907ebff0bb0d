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
        # Types, from each argument's Terraform type in the schema.
        pytest.param(
            "monitoring.tf",
            "notification_channels = var.notification_channels",
            'notification_channels = "projects/p/notificationChannels/1"',
            "alerts: 'notification_channels' must be a list of strings, not a string",
            id="string-where-a-list-is-required",
        ),
        pytest.param(
            "functions.tf",
            "max_attempts       = 10",
            'max_attempts       = "ten"',
            "retry_config: 'max_attempts' must be a number, not the string 'ten'",
            id="string-where-a-number-is-required",
        ),
        pytest.param(
            "main.tf",
            "force_destroy               = false",
            "force_destroy               = 0",
            "google_storage_bucket.archive: 'force_destroy' must be a bool, not a number",
            id="number-where-a-bool-is-required",
        ),
        pytest.param(
            "main.tf",
            "labels                      = var.labels",
            'labels                      = ["recordings"]',
            "google_storage_bucket.archive: 'labels' must be a map of strings, not a list",
            id="list-where-a-map-is-required",
        ),
        pytest.param(
            "main.tf",
            "location                    = var.bucket_location",
            "location                    = var.notification_channels",
            "google_storage_bucket.archive: 'location' must be a string, not a list",
            id="variable-of-the-wrong-type",
        ),
        # self, each, count, for-expression variables and dynamic block iterators, by scope.
        pytest.param(
            "functions.tf",
            "    postcondition {\n      # PUBLIC_URL",
            "    precondition {\n      # PUBLIC_URL",
            "reference self.url: self is only valid in a postcondition, a provisioner or a connection block",
            id="self-in-a-precondition",
        ),
        pytest.param(
            "functions.tf",
            "condition     = self.url ==",
            "condition     = self.uri ==",
            "reference self.uri: this resource has no attribute 'uri'",
            id="self-attribute-misspelled",
        ),
        pytest.param(
            "functions.tf",
            'name     = "${local.prefix}archive-recordings"',
            'name     = "${each.key}archive-recordings"',
            "reference each.key: each is only set in a block with for_each",
            id="each-without-for-each",
        ),
        pytest.param(
            "functions.tf",
            "description = each.value.description",
            "description = each.values.description",
            "reference each.values.description: each has only .key and .value",
            id="each-value-misspelled",
        ),
        pytest.param(
            "functions.tf",
            'name                        = "${var.project_id}-${local.prefix}archiver-source"',
            'name                        = "${var.project_id}-${count.index}archiver-source"',
            "reference count.index: count.index is only set in a block with count",
            id="count-without-count",
        ),
        pytest.param(
            "iam.tf",
            "[for grant in google_storage_bucket_iam_member.objects : grant.id]",
            "[for grant in google_storage_bucket_iam_member.objects : grants.id]",
            "reference grants.id: not declared here",
            id="for-expression-variable-misspelled",
        ),
        pytest.param(
            "functions.tf",
            "filename = source.value",
            "filename = sources.value",
            "reference sources.value: not declared here",
            id="dynamic-iterator-misspelled",
        ),
        pytest.param(
            "functions.tf",
            "${source.value}",
            "${source.val}",
            "reference source.val: a dynamic block's iterator has only .key and .value",
            id="dynamic-iterator-attribute",
        ),
        # lifecycle: ignore_changes paths and the arguments every condition needs.
        pytest.param(
            "secrets.tf",
            "    create_before_destroy = true\n",
            "    create_before_destroy = true\n    ignore_changes        = [secret_dat]\n",
            "signalwire: lifecycle: ignore_changes 'secret_dat': the resource has no attribute 'secret_dat'",
            id="ignore-changes-unknown-attribute",
        ),
        pytest.param(
            "functions.tf",
            "  lifecycle {\n    postcondition {",
            "  lifecycle {\n    ignore_changes = [build_config[0].runtim]\n    postcondition {",
            "ignore_changes 'build_config[0].runtim': the resource has no attribute 'runtim'",
            id="ignore-changes-unknown-nested-attribute",
        ),
        pytest.param(
            "functions.tf",
            "      condition     = self.url == local.function_urls[each.key]\n",
            "",
            "google_cloudfunctions2_function.fn: lifecycle: postcondition: required argument 'condition' is missing",
            id="postcondition-without-condition",
        ),
        pytest.param(
            "iam.tf",
            "      condition     = !local.object_retention",
            "      condition_    = !local.object_retention",
            "objects: lifecycle: precondition: required argument 'condition' is missing",
            id="precondition-without-condition",
        ),
        pytest.param(
            "variables.tf",
            '    error_message = "region must be a Google Cloud region',
            '    # error_message = "region must be a Google Cloud region',
            "variable region: validation: required argument 'error_message' is missing",
            id="validation-without-error-message",
        ),
        # Instances: a for_each or count resource is named with its key, a single one without.
        pytest.param(
            "functions.tf",
            'TASKS_SERVICE_ACCOUNT = google_service_account.sa["invoker"].email',
            "TASKS_SERVICE_ACCOUNT = google_service_account.sa.email",
            "google_service_account.sa has for_each: name an instance ([key]) before .email",
            id="for-each-resource-without-key",
        ),
        pytest.param(
            "outputs.tf",
            "value       = local.bucket_name",
            "value       = google_storage_bucket.archive.name",
            "google_storage_bucket.archive has count: name an instance ([index]) before .name",
            id="count-resource-without-index",
        ),
        pytest.param(
            "functions.tf",
            "TASKS_QUEUE           = google_cloud_tasks_queue.archive.id\n",
            "TASKS_QUEUE           = google_cloud_tasks_queue.archive[0].id\n",
            "google_cloud_tasks_queue.archive has neither count nor for_each: it takes no [0]",
            id="single-resource-with-index",
        ),
        # Blocks, arguments and values the provider restricts.
        pytest.param(
            "functions.tf",
            "  stackdriver_logging_config {\n    sampling_ratio = 1.0\n  }",
            "  stackdriver_logging_config {\n    sampling_ratio = 1.0\n  }\n"
            "  stackdriver_logging_config {\n    sampling_ratio = 0.5\n  }",
            "block 'stackdriver_logging_config' may appear at most once (max_items 1), found 2",
            id="single-block-repeated",
        ),
        pytest.param(
            "secrets.tf",
            '  secret_id = "${local.prefix}${each.value.id}"\n',
            '  secret_id = "${local.prefix}${each.value.id}"\n'
            '  ttl = "86400s"\n  expire_time = "2030-01-01T00:00:00Z"\n',
            "google_secret_manager_secret.signalwire: 'expire_time' and 'ttl' conflict",
            id="conflicting-arguments",
        ),
        pytest.param(
            "monitoring.tf",
            'comparison      = "COMPARISON_GT"',
            'comparison      = "GT"',
            "condition_threshold: 'comparison' is 'GT'; the provider accepts COMPARISON_GT, COMPARISON_GE",
            id="value-outside-the-enum",
        ),
        pytest.param(
            "versions.tf",
            'version = "6.50.0"',
            'version = "~> 6.50"',
            "required provider 'google': version '~> 6.50' is not 6.50.0, the version checked here",
            id="provider-version-range",
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


def test_schemas_extracted_before_types_are_refused(tmp_path: Path) -> None:
    """Older schemas have no types, enums or single blocks: read as current, every such check would pass."""
    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, schemas)
    time = json.loads((schemas / "time.json").read_text())
    del time["format"]
    (schemas / "time.json").write_text(json.dumps(time))

    result = _check(ROOT / "infra", schemas)
    assert result.returncode == 1
    assert f"{schemas}/time.json was extracted by an older tfschema" in result.stderr


@pytest.mark.parametrize(
    ("file", "before", "after"),
    [
        (  # text that only looks like a reference is not checked
            "functions.tf",
            'description      = "Archive SignalWire recordings whose status callbacks were missed"',
            'description      = "Not an expression: google_cloud_tasks_queue.archive.nothing, var.nothing"',
        ),
        (  # in HCL "${var.a_list}" is the list itself, not a string: no type error for it
            "monitoring.tf",
            "notification_channels = var.notification_channels",
            'notification_channels = "${var.notification_channels}"',
        ),
    ],
    ids=["text_that_only_looks_like_a_reference", "a_lone_interpolation_has_the_type_of_its_expression"],
)
def test_what_is_not_an_error_is_not_reported(tmp_path: Path, file: str, before: str, after: str) -> None:
    infra = _copy_infra(tmp_path)
    _plant(infra, file, before, after)
    result = _check(infra)
    assert result.returncode == 0, result.stderr
