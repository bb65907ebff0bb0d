locals {
  repo_root   = abspath("${path.module}/..")
  prefix      = var.name_prefix == "" ? "" : "${var.name_prefix}-"
  bucket_name = var.existing_bucket_name != "" ? var.existing_bucket_name : var.bucket_name
  archive_uri = var.archive_prefix != "" ? "gs://${local.bucket_name}/${var.archive_prefix}" : "gs://${local.bucket_name}"

  function_names = {
    webhook   = "${local.prefix}archive-recording"
    reconcile = "${local.prefix}reconcile-recordings"
    worker    = "${local.prefix}archive-task"
  }
  # A 2nd-gen function's URL is known before it exists, which breaks the cycle of a function naming
  # itself (PUBLIC_URL, INVOKER_AUDIENCE) or the webhook naming the worker. Each function's
  # postcondition checks the real `url` attribute against this. OIDC audiences use this same form.
  function_urls = { for key, name in local.function_names : key => "https://${var.region}-${var.project_id}.cloudfunctions.net/${name}" }
  public_url    = var.public_url != "" ? var.public_url : local.function_urls["webhook"]

  object_retention = var.retention_mode == "object" && var.retention_days > 0
  # The GCS service agent is granted the CMEK only on a bucket this configuration creates.
  cmek_grant = var.kms_key_name != "" && var.existing_bucket_name == ""

  # cloudresourcemanager must already be on before the first apply (infra/README.md, "Before the first
  # apply"): google_project_service reads the project through Resource Manager after enabling each API
  # (resource_google_project_service.go, v6.50.0, line 208), billed to this project when the
  # credentials' quota project is this one. Listed here so that a later apply keeps it on.
  apis = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudtasks.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]
}

resource "google_project_service" "apis" {
  for_each           = toset(concat(local.apis, var.kms_key_name != "" ? ["cloudkms.googleapis.com"] : []))
  service            = each.value
  disable_on_destroy = false
}

# An API answers "has not been used in project … or it is disabled" for a while after it is enabled;
# the provider's own examples wait 60 s before using a fresh API.
resource "time_sleep" "apis" {
  create_duration = "60s"
  triggers        = { apis = join(",", sort([for api in google_project_service.apis : api.service])) }
}

# --- the archive bucket ----------------------------------------------------------------------------

data "google_storage_project_service_account" "gcs" {
  depends_on = [time_sleep.apis]
}

resource "google_kms_crypto_key_iam_member" "gcs_cmek" {
  count         = local.cmek_grant ? 1 : 0
  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# GCS checks the service agent's use of the key when the bucket is created, and a fresh grant takes
# a while to reach Cloud KMS: the provider's own TestAccStorageBucket_encryption, which orders the
# two with depends_on alone, failed with "Permission denied on Cloud KMS key" (hashicorp/
# terraform-provider-google v6.50.0, google/services/storage/resource_storage_bucket_test.go:2612;
# GoogleCloudPlatform/magic-modules#3747). depends_on waits for the IAM call, not for the grant to
# take effect; IAM says a policy change "typically" propagates in 2 minutes ("Access change
# propagation"). The bucket waits for this sleep, which exists only with a CMEK.
resource "time_sleep" "kms_grant" {
  count           = local.cmek_grant ? 1 : 0
  create_duration = "120s"
  triggers        = { grant = google_kms_crypto_key_iam_member.gcs_cmek[count.index].id }
}

# An existing bucket is not ours to configure, but object retention can only be switched on when a
# bucket is created: with retention_mode = "object" the archiver sets a retention on each object,
# which GCS refuses on a bucket without it. The grant below checks at plan time, before anything
# is deployed against the bucket.
data "google_storage_bucket" "existing" {
  count = var.existing_bucket_name != "" ? 1 : 0
  name  = var.existing_bucket_name

  depends_on = [time_sleep.apis]
}

resource "google_storage_bucket" "archive" {
  #checkov:skip=CKV_GCP_62:Access is audited with Cloud Audit Logs instead of legacy usage logs: audit.tf enables Data Access logs (DATA_READ, DATA_WRITE) for Cloud Storage and keeps them in the audit log bucket.
  #checkov:skip=CKV_GCP_78:Versioning is the fallback when retention_days is 0; with retention nothing can be replaced or deleted anyway.
  count                       = var.existing_bucket_name == "" ? 1 : 0
  name                        = var.bucket_name
  location                    = var.bucket_location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = var.labels
  # Object retention can only be switched on when the bucket is created.
  enable_object_retention = local.object_retention

  versioning {
    enabled = var.retention_days == 0
  }

  dynamic "retention_policy" {
    for_each = var.retention_mode == "bucket" && var.retention_days > 0 ? [1] : []
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

  lifecycle {
    # The archive outlives any configuration change: a plan that would replace the bucket (a new
    # location, switching retention_mode) fails here instead of deleting it.
    prevent_destroy = true
  }

  depends_on = [time_sleep.apis, time_sleep.kms_grant]
}

# Least privilege on objects, granted on the archive bucket only: create and read; update custom
# metadata (the SHA-256 is known only after the last byte); delete bytes that failed verification;
# list, so that the sweep reads a day's archive in pages and a missing object is a 404 whatever GCS
# would do without it (infra/README.md, "Why storage.objects.list"); with object retention, set the
# retention of a verified object. Nothing on the bucket itself.
resource "google_project_iam_custom_role" "object_writer" {
  role_id     = join("_", compact([var.name_prefix, "signalwireArchiveWriter"]))
  title       = "SignalWire archive writer${var.name_prefix == "" ? "" : " (${var.name_prefix})"}"
  description = "Create, read, list and verify recording objects; granted on the archive bucket only."
  permissions = concat(
    [
      "storage.objects.create",
      "storage.objects.delete",
      "storage.objects.get",
      "storage.objects.list",
      "storage.objects.update",
    ],
    local.object_retention ? ["storage.objects.setRetention"] : [],
  )

  depends_on = [time_sleep.apis]
}
