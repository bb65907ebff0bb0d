# Alerts: log-based metrics over the functions' audit lines and error logs, and Cloud Run's own
# request metric for the webhook.

locals {
  services     = { for key, name in local.function_names : key => "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${name}\"" }
  alert_prefix = "SignalWire archiver${var.name_prefix == "" ? "" : " (${var.name_prefix})"}"

  log_alerts = {
    callback_failed = {
      display = "a callback could not be handled"
      filter  = "${local.services["webhook"]} AND jsonPayload.outcome=(\"failed\" OR \"corrupt\")"
      doc     = "A recording status callback answered 5xx (most often: the task could not be enqueued). SignalWire retries it, and the hourly sweep catches it if the retries fail too. The log line's `error` says why."
    }
    webhook_errors = {
      display = "the callback function is failing"
      filter  = "${local.services["webhook"]} AND severity>=ERROR"
      doc     = "The callback function logged an error outside its audit lines: a startup exit (`configuration error: …`, a missing secret), a crash, or an instance over its memory limit. Callbacks are answered 5xx or not at all until it is fixed; SignalWire drops a callback after 3 attempts, the sweep archives it later."
    }
    archive_failed = {
      display = "a recording failed to archive"
      filter  = "${local.services["worker"]} AND (jsonPayload.outcome=(\"failed\" OR \"corrupt\") OR severity>=ERROR)"
      doc     = "The archive-task worker could not archive a recording, or found an archived object that disagrees with its manifest (`corrupt`). Failed tasks are retried with backoff for `tasks_max_retry_hours`, then the sweep re-enqueues them. `python -m archiver verify` lists what is missing or corrupt."
    }
    sweep_failed = {
      display = "the sweep failed"
      filter  = "${local.services["reconcile"]} AND (jsonPayload.outcome=(\"sweep_failed\" OR \"corrupt\") OR (jsonPayload.source=\"sweep\" AND jsonPayload.outcome=\"failed\") OR severity>=ERROR)"
      doc     = "The scheduled sweep could not handle at least one recording (its summary lists them under `failed`), found a corrupt archive, or errored itself."
    }
    sweep_window_stuck = {
      display = "a sweep window stays incomplete"
      filter  = "${local.services["reconcile"]} AND jsonPayload.outcome=\"sweep_window_stuck\" AND severity>=ERROR"
      doc     = "More than 3 hourly sweeps in a row left part of their window unswept (`sweep window incomplete N runs in a row`): a list that fails every run (the summary's `failed` names the API), or a RELAY recordings list longer than one run can read. Recordings in that window may be unarchived; raise RECONCILE_DEADLINE_SECONDS or fix the failing list (docs/operations.md, \"A sweep that runs out of time\")."
    }
    sweep_caught_missed = {
      display = "the sweep found recordings the callbacks missed"
      filter  = "${local.services["reconcile"]} AND jsonPayload.missed_by_callbacks>0"
      doc     = "The sweep found finished recordings with no archive: SignalWire's callbacks are not reaching the callback function (check its URL at SignalWire, and 403s in its logs)."
    }
  }
}

resource "google_logging_metric" "alerts" {
  for_each = local.log_alerts
  name     = "${local.prefix}signalwire_archiver/${each.key}"
  filter   = each.value.filter

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }

  depends_on = [time_sleep.apis]
}

# Monitoring answers 404 for a new log-based metric for up to 10 minutes ("If a metric was created
# recently, it could take up to 10 minutes to become available"; hashicorp/terraform-provider-google
# issue 11102). The wait runs while the functions build, so it adds little to a first apply.
resource "time_sleep" "metrics" {
  create_duration = "600s"
  triggers        = { metrics = join(",", sort([for metric in google_logging_metric.alerts : metric.id])) }
}

locals {
  # Every alert is one threshold on a metric: the log-based metrics above, and Cloud Run's request count,
  # which sees the answers no log line explains (no instance could start, an out-of-memory kill, a
  # platform 5xx).
  alert_policies = merge(
    {
      for key, alert in local.log_alerts : key => {
        display = alert.display
        doc     = alert.doc
        filter  = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.alerts[key].name}\" AND resource.type=\"cloud_run_revision\""
      }
    },
    {
      webhook_5xx = {
        display = "the callback function answered 5xx"
        doc     = "The callback function answered SignalWire with a 5xx, from the code (see the callback alerts) or from Cloud Run itself (no instance could start: a configuration error, a missing secret version; or one was killed over its memory limit). SignalWire retries 3 times; the sweep archives what it drops."
        filter  = "metric.type=\"run.googleapis.com/request_count\" AND ${local.services["webhook"]} AND metric.labels.response_code_class=\"5xx\""
      }
    },
  )
}

resource "google_monitoring_alert_policy" "alerts" {
  for_each              = local.alert_policies
  display_name          = "${local.alert_prefix}: ${each.value.display}"
  combiner              = "OR"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = each.value.display
    condition_threshold {
      filter          = each.value.filter
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

  depends_on = [time_sleep.metrics]
}
