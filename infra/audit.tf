# The audit trail, kept as long as the recordings: every entry the three functions write and every
# Cloud Audit Log entry about the archive bucket (who read, listed, wrote, held or deleted an object)
# are routed to a log bucket of their own, retained `audit_log_retention_days` and queryable in SQL
# through a linked BigQuery dataset (docs/audit.md has the queries). The _Default bucket (30 days)
# keeps its copy, and the alerts in monitoring.tf, which count entries wherever they are stored,
# are unchanged.

locals {
  audit_log_bucket_id = "${local.prefix}signalwire-archiver-audit"
  # BigQuery dataset IDs allow letters, digits and underscores only.
  audit_link_id = join("_", compact([var.name_prefix, "signalwire_archiver_audit"]))

  # The sink's filter is these clauses joined by OR. It selects by where an entry comes from, never by
  # what it says: an audit line whose shape changes, a crash's stderr or a request log of the three
  # functions all match, so no audit line can be missed by content. tests/test_audit_trail.py
  # evaluates these clauses against the lines the code emits.
  audit_function_names = join(" OR ", [for key in sort(keys(local.function_names)) : "\"${local.function_names[key]}\""])
  audit_log_filters = {
    # 2nd-gen functions log as Cloud Run services; "cloud_function" catches the older resource type too.
    functions_run = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=(${local.audit_function_names})"
    functions_gcf = "resource.type=\"cloud_function\" AND resource.labels.function_name=(${local.audit_function_names})"
    # Data Access (reads, lists, writes, holds) and Admin Activity (IAM, retention) on the archive bucket.
    archive_bucket = "resource.type=\"gcs_bucket\" AND resource.labels.bucket_name=\"${local.bucket_name}\" AND logName=(\"projects/${var.project_id}/logs/cloudaudit.googleapis.com%2Fdata_access\" OR \"projects/${var.project_id}/logs/cloudaudit.googleapis.com%2Factivity\")"
  }
  audit_log_filter = join(" OR ", [for key in sort(keys(local.audit_log_filters)) : "(${local.audit_log_filters[key]})"])
}

resource "google_logging_project_bucket_config" "audit" {
  project        = var.project_id
  location       = var.audit_log_location
  bucket_id      = local.audit_log_bucket_id
  description    = "SignalWire archiver audit trail: the functions' logs and the archive bucket's Cloud Audit Logs."
  retention_days = var.audit_log_retention_days
  # A locked bucket's retention can never be shortened, and the bucket cannot be deleted while it holds entries.
  locked = var.lock_audit_log_bucket
  # Log Analytics: SQL over the trail, here and through the linked dataset. It cannot be switched off again.
  enable_analytics = true

  depends_on = [time_sleep.apis]
}

# The linked dataset is a BigQuery dataset, queried through BigQuery's API; enabled here rather than in
# main.tf's list so that the audit trail stays one file. Like the others, it needs a minute before use.
resource "google_project_service" "bigquery" {
  service            = "bigquery.googleapis.com"
  disable_on_destroy = false
}

resource "time_sleep" "bigquery" {
  create_duration = "60s"
  triggers        = { api = google_project_service.bigquery.service }
}

resource "google_logging_linked_dataset" "audit" {
  link_id     = local.audit_link_id
  bucket      = google_logging_project_bucket_config.audit.id
  description = "SignalWire archiver audit trail, read-only in BigQuery (docs/audit.md)."

  depends_on = [time_sleep.bigquery]
}

resource "google_logging_project_sink" "audit" {
  name        = "${local.prefix}signalwire-archiver-audit"
  description = "The SignalWire archiver's audit lines and the archive bucket's audit logs, kept for audit_log_retention_days."
  destination = "logging.googleapis.com/${google_logging_project_bucket_config.audit.id}"
  filter      = local.audit_log_filter
  # A log bucket in the sink's own project needs no writer identity and no grant.
  unique_writer_identity = true
}

# Who read a recording: Data Access logs for Cloud Storage are off by default. DATA_READ records every
# object read and listing, DATA_WRITE every object created, updated (metadata, retention, a hold) or
# deleted, with the caller's identity, so holds set from an operator's machine are in the trail too.
# This resource is authoritative for storage.googleapis.com's audit configuration in the project.
resource "google_project_iam_audit_config" "storage" {
  project = var.project_id
  service = "storage.googleapis.com"

  audit_log_config {
    log_type = "DATA_READ"
  }

  audit_log_config {
    log_type = "DATA_WRITE"
  }

  depends_on = [time_sleep.apis]
}
