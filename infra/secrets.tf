# The SignalWire API token and Signing Key, created with their first versions in the same apply:
# Cloud Run resolves secret environment variables before an instance starts, so a function
# deployed before its secret has a version never starts.
#
# The values come from ephemeral variables through the write-only `secret_data_wo` argument:
# they reach Secret Manager and nothing else (no state, no plan file). Terraform cannot compare a
# write-only value, so a new value is stored only when its *_version variable is bumped.

locals {
  secrets = {
    api_token   = { id = "signalwire-api-token", version = var.api_token_version }
    signing_key = { id = "signalwire-signing-key", version = var.signing_key_version }
  }
}

resource "google_secret_manager_secret" "signalwire" {
  #checkov:skip=CKV_GCP_128:Google-managed encryption; a CMEK for two short secrets is the operator's choice.
  for_each  = local.secrets
  secret_id = "${local.prefix}${each.value.id}"
  labels    = var.labels
  replication {
    auto {}
  }
  depends_on = [time_sleep.apis]
}

resource "google_secret_manager_secret_version" "signalwire" {
  for_each               = local.secrets
  secret                 = google_secret_manager_secret.signalwire[each.key].id
  secret_data_wo         = each.key == "api_token" ? var.signalwire_api_token : var.signalwire_signing_key
  secret_data_wo_version = each.value.version
  # A replaced version is disabled, not destroyed: rolling back is re-enabling it.
  deletion_policy = "DISABLE"

  lifecycle {
    # The new version exists and the functions have moved to it before the old one is disabled.
    create_before_destroy = true
  }
}
