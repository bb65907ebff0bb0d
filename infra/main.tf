locals {
  repo_root   = abspath("${path.module}/..")
  bucket_name = var.existing_bucket_name != "" ? var.existing_bucket_name : var.bucket_name
  archive_uri = var.archive_prefix != "" ? "gs://${local.bucket_name}/${var.archive_prefix}" : "gs://${local.bucket_name}"
  public_url  = var.public_url != "" ? var.public_url : "https://${var.region}-${var.project_id}.cloudfunctions.net/${var.webhook_name}"

  # Only what runs goes into the deployed source: no tests, no tooling.
  source_files = concat(["main.py", "requirements.txt"], sort(tolist(fileset(local.repo_root, "archiver/*.py"))))

  apis = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]

  common_env = {
    SIGNALWIRE_SPACE_URL  = var.signalwire_space_url
    SIGNALWIRE_PROJECT_ID = var.signalwire_project_id
    ARCHIVE_URI           = local.archive_uri
    RECORDING_FORMAT      = var.recording_format
    DELETE_AFTER_ARCHIVE  = tostring(var.delete_after_archive)
    RETRY_BUDGET_SECONDS  = tostring(var.retry_budget_seconds)
    GOOGLE_CLOUD_PROJECT  = var.project_id
  }
}

resource "google_project_service" "apis" {
  for_each           = toset(concat(local.apis, var.kms_key_name != "" ? ["cloudkms.googleapis.com"] : []))
  service            = each.value
  disable_on_destroy = false
}

# --- the archive bucket ----------------------------------------------------------------------------

data "google_storage_project_service_account" "gcs" {}

resource "google_kms_crypto_key_iam_member" "gcs_cmek" {
  count         = var.kms_key_name != "" && var.existing_bucket_name == "" ? 1 : 0
  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

resource "google_storage_bucket" "archive" {
  #checkov:skip=CKV_GCP_62:Access is audited with Cloud Audit Logs (Data Access logs for GCS), not legacy usage logs.
  #checkov:skip=CKV_GCP_78:Versioning is the fallback when retention_days is 0; with a retention policy nothing can be replaced or deleted anyway.
  count                       = var.existing_bucket_name == "" ? 1 : 0
  name                        = var.bucket_name
  location                    = var.bucket_location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = var.labels

  versioning {
    enabled = var.retention_days == 0
  }

  dynamic "retention_policy" {
    for_each = var.retention_days > 0 ? [1] : []
    content {
      retention_period = var.retention_days * 86400
      is_locked        = var.lock_retention_policy
    }
  }

  lifecycle_rule {
    condition {
      age                   = var.coldline_after_days
      matches_suffix        = [".mp3", ".wav"]
      matches_storage_class = ["STANDARD"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "COLDLINE"
    }
  }

  lifecycle_rule {
    condition {
      age                   = var.archive_after_days
      matches_suffix        = [".mp3", ".wav"]
      matches_storage_class = ["STANDARD", "COLDLINE"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "ARCHIVE"
    }
  }

  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name != "" ? [1] : []
    content {
      default_kms_key_name = var.kms_key_name
    }
  }

  depends_on = [google_project_service.apis, google_kms_crypto_key_iam_member.gcs_cmek]
}

# Least privilege on objects: create and read, update custom metadata (the SHA-256 is only known
# after the last byte) and delete bytes that failed verification. No listing, no bucket settings.
resource "google_project_iam_custom_role" "object_writer" {
  role_id     = "signalwireArchiveWriter"
  title       = "SignalWire archive writer"
  description = "Create, read and verify recording objects; granted on the archive bucket only."
  permissions = [
    "storage.objects.create",
    "storage.objects.delete",
    "storage.objects.get",
    "storage.objects.update",
  ]
}

# --- secrets: values are added out of band (see infra/README.md), never in Terraform state -------

resource "google_secret_manager_secret" "signalwire" {
  #checkov:skip=CKV_GCP_128:Google-managed encryption; a CMEK for two short secrets is the operator's choice.
  for_each  = { api_token = "signalwire-api-token", signing_key = "signalwire-signing-key" }
  secret_id = each.value
  labels    = var.labels
  replication {
    auto {}
  }
  depends_on = [google_project_service.apis]
}

# --- service accounts ------------------------------------------------------------------------------

resource "google_service_account" "webhook" {
  account_id   = "archive-recording"
  display_name = "SignalWire archiver: recording status callback"
}

resource "google_service_account" "reconcile" {
  account_id   = "reconcile-recordings"
  display_name = "SignalWire archiver: scheduled sweep"
}

resource "google_service_account" "scheduler" {
  account_id   = "reconcile-scheduler"
  display_name = "SignalWire archiver: Cloud Scheduler caller of the sweep"
}

resource "google_service_account" "build" {
  account_id   = "archiver-build"
  display_name = "SignalWire archiver: Cloud Build for the functions"
}

locals {
  runtime_accounts = {
    webhook   = google_service_account.webhook.member
    reconcile = google_service_account.reconcile.member
  }
  runtime_secrets = {
    for pair in setproduct(keys(local.runtime_accounts), ["api_token", "signing_key"]) :
    "${pair[0]}-${pair[1]}" => { account = pair[0], secret = pair[1] }
  }
}

resource "google_storage_bucket_iam_member" "runtime_objects" {
  for_each = local.runtime_accounts
  bucket   = local.bucket_name
  role     = google_project_iam_custom_role.object_writer.name
  member   = each.value

  depends_on = [google_storage_bucket.archive]
}

resource "google_secret_manager_secret_iam_member" "runtime_secrets" {
  for_each  = local.runtime_secrets
  secret_id = google_secret_manager_secret.signalwire[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.runtime_accounts[each.value.account]
}

# Cloud Build writes its logs and the function's image; that is all the build account may do.
resource "google_project_iam_member" "build" {
  for_each = toset(["roles/logging.logWriter", "roles/artifactregistry.writer"])
  project  = var.project_id
  role     = each.value
  member   = google_service_account.build.member
}

# --- function source -------------------------------------------------------------------------------

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Holds only the deployable zip; audited by Cloud Audit Logs.
  name                        = "${var.project_id}-archiver-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = var.labels

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 5
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_iam_member" "build_reads_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

data "archive_file" "source" {
  type        = "zip"
  output_path = "${path.module}/.build/function-source.zip"

  dynamic "source" {
    for_each = local.source_files
    content {
      content  = file("${local.repo_root}/${source.value}")
      filename = source.value
    }
  }
}

resource "google_storage_bucket_object" "source" {
  # The content hash in the name makes every code change a new deployment.
  name   = "function-source-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}

# --- the two functions ---------------------------------------------------------------------------

locals {
  functions = {
    # Public: SignalWire cannot send Google credentials; the signature check guards it.
    webhook = {
      name            = var.webhook_name
      entry_point     = "archive_recording"
      description     = "SignalWire recordingStatusCallback: archives each finished recording into ${local.archive_uri}"
      memory          = var.webhook_memory
      timeout         = var.webhook_timeout_seconds
      concurrency     = var.webhook_concurrency
      max_instances   = var.webhook_max_instances
      service_account = google_service_account.webhook.email
      env = {
        PUBLIC_URL = local.public_url
        # gunicorn threads per instance follow the request concurrency Cloud Run sends.
        THREADS = tostring(var.webhook_concurrency)
      }
    }
    # Private: only the scheduler's account may invoke it; one sweep at a time.
    reconcile = {
      name            = var.reconcile_name
      entry_point     = "reconcile_recordings"
      description     = "Hourly sweep: archives recordings whose callbacks were missed"
      memory          = var.reconcile_memory
      timeout         = var.reconcile_timeout_seconds
      concurrency     = 1
      max_instances   = 1
      service_account = google_service_account.reconcile.email
      env = {
        RECONCILE_LOOKBACK_HOURS   = tostring(var.reconcile_lookback_hours)
        RECONCILE_CONCURRENCY      = tostring(var.reconcile_concurrency)
        RECONCILE_DEADLINE_SECONDS = tostring(var.reconcile_timeout_seconds - 60)
      }
    }
  }
  secret_env = {
    SIGNALWIRE_API_TOKEN   = google_secret_manager_secret.signalwire["api_token"].secret_id
    SIGNALWIRE_SIGNING_KEY = google_secret_manager_secret.signalwire["signing_key"].secret_id
  }
}

resource "google_cloudfunctions2_function" "fn" {
  #checkov:skip=CKV_GCP_124:The callback is reached by SignalWire from the internet (no published address ranges; the signature guards it); the sweep is private through IAM, only the scheduler's account holding run.invoker.
  for_each    = local.functions
  name        = each.value.name
  location    = var.region
  description = each.value.description
  labels      = var.labels

  build_config {
    runtime         = var.python_runtime
    entry_point     = each.value.entry_point
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory                 = each.value.memory
    timeout_seconds                  = each.value.timeout
    max_instance_request_concurrency = each.value.concurrency
    available_cpu                    = "1"
    min_instance_count               = 0
    max_instance_count               = each.value.max_instances
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
    service_account_email            = each.value.service_account
    environment_variables            = merge(local.common_env, each.value.env)

    dynamic "secret_environment_variables" {
      for_each = local.secret_env
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.runtime_secrets,
    google_storage_bucket_iam_member.runtime_objects,
    google_project_iam_member.build,
    google_storage_bucket_iam_member.build_reads_source,
  ]
}

resource "google_cloud_run_service_iam_member" "webhook_public" {
  #checkov:skip=CKV_GCP_102:SignalWire cannot present Google credentials; the X-SignalWire-Signature check guards the function.
  location = google_cloudfunctions2_function.fn["webhook"].location
  service  = google_cloudfunctions2_function.fn["webhook"].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_service_iam_member" "scheduler_invokes_reconcile" {
  location = google_cloudfunctions2_function.fn["reconcile"].location
  service  = google_cloudfunctions2_function.fn["reconcile"].name
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

resource "google_cloud_scheduler_job" "sweep" {
  name             = "reconcile-recordings"
  description      = "Archive SignalWire recordings whose status callbacks were missed"
  region           = var.region
  schedule         = var.sweep_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "${min(var.reconcile_timeout_seconds, 1800)}s"

  retry_config {
    retry_count = 1
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.fn["reconcile"].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.fn["reconcile"].service_config[0].uri
    }
  }

  depends_on = [google_project_service.apis, google_cloud_run_service_iam_member.scheduler_invokes_reconcile]
}
