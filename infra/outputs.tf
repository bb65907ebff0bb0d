output "callback_url" {
  description = "Paste into SignalWire as recordingStatusCallback (method POST). The function verifies signatures against exactly this URL."
  value       = local.public_url
}

output "bucket" {
  description = "The archive bucket."
  value       = local.bucket_name
}

output "archive_uri" {
  description = "ARCHIVE_URI the functions write to; use the same for `python -m archiver backfill|verify`."
  value       = local.archive_uri
}

output "function_urls" {
  description = "The three functions' URLs; the worker and the sweep are internal-only and private: Cloud Tasks and Cloud Scheduler call them with an identity token whose audience is the URL (trigger a sweep with gcloud scheduler jobs run)."
  value       = { for key, fn in google_cloudfunctions2_function.fn : key => fn.url }
}

output "tasks_queue" {
  description = "TASKS_QUEUE: the queue the callback and the sweep enqueue on (also for `backfill --enqueue`)."
  value       = google_cloud_tasks_queue.archive.id
}

output "service_accounts" {
  description = "The dedicated service accounts."
  value       = { for key, account in google_service_account.sa : key => account.email }
}

output "secrets" {
  description = "Secret Manager secrets and the versions the functions are pinned to."
  value       = { for key, version in google_secret_manager_secret_version.signalwire : key => version.name }
}

output "audit_log_bucket" {
  description = "The log bucket that keeps the audit trail for audit_log_retention_days."
  value       = google_logging_project_bucket_config.audit.id
}

output "audit_dataset" {
  description = "The linked BigQuery dataset to query the audit trail in (docs/audit.md): FROM `<this>._AllLogs`."
  value       = "${var.project_id}.${google_logging_linked_dataset.audit.link_id}"
}
