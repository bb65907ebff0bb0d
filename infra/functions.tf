# The three functions, the queue between them and the hourly sweep's schedule.
#
#   SignalWire --callback--> archive-recording --task--> queue --OIDC--> archive-task --> bucket
#   Cloud Scheduler --OIDC--> reconcile-recordings --task (what is missing)--> queue

locals {
  # Only what runs goes into the deployed source: no tests, no tooling.
  source_files = concat(["main.py", "requirements.txt"], sort(tolist(fileset(local.repo_root, "archiver/*.py"))))

  tasks_env = {
    TASKS_QUEUE           = google_cloud_tasks_queue.archive.id
    TASKS_WORKER_URL      = local.function_urls["worker"]
    TASKS_SERVICE_ACCOUNT = google_service_account.sa["invoker"].email
    # Each task may run as long as the worker may: Cloud Tasks waits this long for its answer.
    TASKS_DISPATCH_DEADLINE_SECONDS = tostring(var.worker_timeout_seconds)
  }

  common_env = merge(
    {
      SIGNALWIRE_SPACE_URL  = var.signalwire_space_url
      SIGNALWIRE_PROJECT_ID = var.signalwire_project_id
      ARCHIVE_URI           = local.archive_uri
      RECORDING_FORMAT      = var.recording_format
      DELETE_AFTER_ARCHIVE  = tostring(var.delete_after_archive)
      RETRY_BUDGET_SECONDS  = tostring(var.retry_budget_seconds)
      MAX_RECORDING_MB      = tostring(var.max_recording_mb)
      GOOGLE_CLOUD_PROJECT  = var.project_id
    },
    local.object_retention ? {
      OBJECT_RETENTION_DAYS = tostring(var.retention_days)
      OBJECT_RETENTION_MODE = var.lock_retention_policy ? "Locked" : "Unlocked"
    } : {},
  )

  functions = {
    # Public: SignalWire cannot send Google credentials; the signature check guards it. It verifies,
    # enqueues one task and answers in milliseconds, so it needs little memory and a short timeout.
    # It never calls SignalWire, so it holds only the Signing Key, not the API token.
    webhook = {
      entry_point   = "archive_recording"
      description   = "SignalWire recordingStatusCallback: verifies the signature and enqueues the recording"
      memory        = var.webhook_memory
      timeout       = var.webhook_timeout_seconds
      concurrency   = var.webhook_concurrency
      max_instances = var.webhook_max_instances
      ingress       = "ALLOW_ALL"
      secrets       = ["signing_key"]
      env = merge(local.tasks_env, {
        PUBLIC_URL = local.public_url
        # gunicorn threads per instance follow the request concurrency Cloud Run sends.
        THREADS = tostring(var.webhook_concurrency)
      })
    }
    # Private: reachable only from inside the project (Cloud Tasks counts), only the tasks invoker
    # account may call it (IAM), and the code checks its OIDC token.
    worker = {
      entry_point   = "archive_task"
      description   = "Archives one recording per Cloud Task into ${local.archive_uri}"
      memory        = var.worker_memory
      timeout       = var.worker_timeout_seconds
      concurrency   = var.worker_concurrency
      max_instances = var.worker_max_instances
      ingress       = "ALLOW_INTERNAL_ONLY"
      secrets       = ["api_token"]
      env = {
        INVOKER_AUDIENCE        = local.function_urls["worker"]
        INVOKER_SERVICE_ACCOUNT = google_service_account.sa["invoker"].email
        THREADS                 = tostring(var.worker_concurrency)
      }
    }
    # Private: reachable only from inside the project (Cloud Scheduler counts), only the scheduler's
    # account may call it, and the code checks its OIDC token; one sweep at a time.
    reconcile = {
      entry_point   = "reconcile_recordings"
      description   = "Hourly sweep: enqueues recordings whose callbacks were missed"
      memory        = var.reconcile_memory
      timeout       = var.reconcile_timeout_seconds
      concurrency   = 1
      max_instances = 1
      ingress       = "ALLOW_INTERNAL_ONLY"
      secrets       = ["api_token"]
      env = merge(local.tasks_env, {
        RECONCILE_LOOKBACK_HOURS   = tostring(var.reconcile_lookback_hours)
        RECONCILE_CONCURRENCY      = tostring(var.reconcile_concurrency)
        RECONCILE_DEADLINE_SECONDS = tostring(var.reconcile_timeout_seconds - 60)
        RECONCILE_MAX_WINDOW_DAYS  = tostring(var.reconcile_max_window_days)
        INVOKER_AUDIENCE           = local.function_urls["reconcile"]
        INVOKER_SERVICE_ACCOUNT    = google_service_account.sa["scheduler"].email
      })
    }
  }
  secret_env_names = { api_token = "SIGNALWIRE_API_TOKEN", signing_key = "SIGNALWIRE_SIGNING_KEY" }
}

# --- function source -------------------------------------------------------------------------------

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Holds only the deployable zips; audited by Cloud Audit Logs.
  #checkov:skip=CKV_GCP_78:Every zip is named by its content hash, so nothing is ever overwritten; versions would only keep deleted zips.
  name                        = "${var.project_id}-${local.prefix}archiver-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = var.labels

  versioning {
    enabled = false
  }

  # Cloud Functions copies a zip into its own gcf-v2-sources bucket when it deploys it, so an old
  # zip is never read again. Should the current one age out, the next plan uploads it again under
  # the same name, which redeploys nothing.
  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [time_sleep.apis]
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

# --- the functions -----------------------------------------------------------------------------

resource "google_cloudfunctions2_function" "fn" {
  #checkov:skip=CKV_GCP_124:The callback is reached by SignalWire from the internet (no published address ranges; the signature guards it); the worker and the sweep are internal-only, private through IAM, and check the caller's OIDC token.
  for_each    = local.functions
  name        = local.function_names[each.key]
  location    = var.region
  description = each.value.description
  labels      = var.labels

  build_config {
    runtime         = var.python_runtime
    entry_point     = each.value.entry_point
    service_account = google_service_account.sa["build"].id
    # A repository of our own, so that the build account writes images there and nowhere else.
    docker_repository = google_artifact_registry_repository.functions.id
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
    # Internal-only for the worker and the sweep: Google's network settings page for Cloud Run
    # functions lists Cloud Scheduler and Cloud Tasks in the same project among the internal
    # sources that "Allow internal traffic only" admits; requests from the internet get a 404.
    ingress_settings               = each.value.ingress
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.sa[each.key].email
    environment_variables          = merge(local.common_env, each.value.env)

    dynamic "secret_environment_variables" {
      for_each = toset(each.value.secrets)
      content {
        key        = local.secret_env_names[secret_environment_variables.value]
        project_id = var.project_id
        secret     = google_secret_manager_secret.signalwire[secret_environment_variables.value].secret_id
        # Pinned, as Google advises: a new secret value reaches the functions as a new revision
        # made by Terraform (the *_version variables), never silently at the next cold start.
        version = google_secret_manager_secret_version.signalwire[secret_environment_variables.value].version
      }
    }
  }

  lifecycle {
    postcondition {
      # PUBLIC_URL, INVOKER_AUDIENCE and TASKS_WORKER_URL were built from this form; a mismatch
      # would make every callback a 403 and every task or sweep an OIDC audience failure.
      condition     = self.url == local.function_urls[each.key]
      error_message = "The function's URL is ${self.url}, not ${local.function_urls[each.key]} as its configuration assumed."
    }
  }

  depends_on = [time_sleep.apis, time_sleep.grants]
}

resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Holds only the functions' images, built from this repository's public code; Google-managed encryption.
  repository_id = "${local.prefix}archiver-functions"
  location      = var.region
  format        = "DOCKER"
  description   = "Images of the SignalWire archiver's functions, built by Cloud Build"
  labels        = var.labels

  depends_on = [time_sleep.apis]
}

resource "google_cloud_run_service_iam_member" "webhook_public" {
  #checkov:skip=CKV_GCP_102:SignalWire cannot present Google credentials; the X-SignalWire-Signature check guards the function.
  count    = var.webhook_public_invoker ? 1 : 0
  location = google_cloudfunctions2_function.fn["webhook"].location
  service  = google_cloudfunctions2_function.fn["webhook"].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_service_iam_member" "private_invokers" {
  for_each = { worker = "invoker", reconcile = "scheduler" }
  location = google_cloudfunctions2_function.fn[each.key].location
  service  = google_cloudfunctions2_function.fn[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.sa[each.value].member
}

# --- the queue -----------------------------------------------------------------------------------

resource "google_cloud_tasks_queue" "archive" {
  name     = "${local.prefix}archive-recordings"
  location = var.region

  rate_limits {
    max_dispatches_per_second = var.tasks_max_dispatches_per_second
    max_concurrent_dispatches = var.tasks_max_concurrent_dispatches
  }

  # Capped exponential backoff for a day (infra/README.md, "The queue"): 10 s doubling five times
  # to 320 s, then growing by 320 s up to one attempt every 30 minutes. Cloud Tasks stops when both
  # limits are reached; 10 attempts come within the first hour, so the duration decides.
  retry_config {
    max_attempts       = 10
    max_retry_duration = "${var.tasks_max_retry_hours * 3600}s"
    min_backoff        = "10s"
    max_backoff        = "1800s"
    max_doublings      = 5
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }

  depends_on = [time_sleep.apis]
}

# --- the sweep's schedule --------------------------------------------------------------------------

resource "google_cloud_scheduler_job" "sweep" {
  name             = "${local.prefix}reconcile-recordings"
  description      = "Archive SignalWire recordings whose status callbacks were missed"
  region           = var.region
  schedule         = var.sweep_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "${var.reconcile_timeout_seconds}s"

  retry_config {
    retry_count = 1
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.fn["reconcile"].url

    oidc_token {
      service_account_email = google_service_account.sa["scheduler"].email
      # The same form as the sweep's INVOKER_AUDIENCE, which the code checks the token against.
      audience = local.function_urls["reconcile"]
    }
  }

  depends_on = [time_sleep.apis, google_cloud_run_service_iam_member.private_invokers]
}
