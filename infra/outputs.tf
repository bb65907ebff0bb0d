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

output "reconcile_url" {
  description = "The private sweep endpoint (invoke with an identity token)."
  value       = google_cloudfunctions2_function.fn["reconcile"].service_config[0].uri
}

output "service_accounts" {
  description = "The dedicated service accounts."
  value = {
    webhook   = google_service_account.webhook.email
    reconcile = google_service_account.reconcile.email
    scheduler = google_service_account.scheduler.email
    build     = google_service_account.build.email
  }
}

output "secrets" {
  description = "Secret Manager secrets to add versions to (see infra/README.md)."
  value       = { for name, secret in google_secret_manager_secret.signalwire : name => secret.id }
}
