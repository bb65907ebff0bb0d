# Log-based metrics over the functions' audit lines, and alerts on them.

locals {
  alerts = {
    callback_failed = {
      display = "SignalWire archiver: a callback failed to archive"
      filter  = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${var.webhook_name}\" AND jsonPayload.outcome=\"failed\""
      doc     = "A recording status callback answered 503: SignalWire retries it, and the hourly sweep catches it if the retries fail too. The log line's `error` says why; `python -m archiver verify` shows what is missing."
    }
    sweep_failed = {
      display = "SignalWire archiver: the sweep failed"
      filter  = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${var.reconcile_name}\" AND (jsonPayload.outcome=\"sweep_failed\" OR (jsonPayload.source=\"sweep\" AND jsonPayload.outcome=\"failed\") OR severity>=ERROR)"
      doc     = "The scheduled sweep could not archive at least one recording (its summary lists them under `failed`), or the sweep itself errored."
    }
    sweep_caught_missed = {
      display = "SignalWire archiver: the sweep archived recordings the callbacks missed"
      filter  = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${var.reconcile_name}\" AND jsonPayload.missed_by_callbacks>0"
      doc     = "The sweep found finished recordings with no archive and archived them: SignalWire's callbacks are not reaching the callback function (check its URL and PUBLIC_URL at SignalWire, and 403s in its logs)."
    }
  }
}

resource "google_logging_metric" "alerts" {
  for_each = local.alerts
  name     = "signalwire_archiver/${each.key}"
  filter   = each.value.filter

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "alerts" {
  for_each              = local.alerts
  display_name          = each.value.display
  combiner              = "OR"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = each.value.display
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.alerts[each.key].name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_DELTA"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    content   = each.value.doc
    mime_type = "text/markdown"
  }

  alert_strategy {
    auto_close = "86400s"
  }
}
