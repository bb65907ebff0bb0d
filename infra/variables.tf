# Every mistake a variable can hold fails at `terraform plan` with a message naming it, not halfway
# through an apply.

# --- where ---------------------------------------------------------------------------------------
variable "project_id" {
  description = "GCP project to deploy into."
  type        = string

  validation {
    # Domain-scoped project IDs (example.com:proj) have no https://REGION-PROJECT.cloudfunctions.net URL.
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 lowercase letters, digits, hyphens), not its name or number."
  }
}

variable "region" {
  description = "Region of the functions, the task queue and the scheduler job, e.g. us-central1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1 (not a zone, not a multi-region)."
  }
}

variable "name_prefix" {
  description = "Prefix of every name this configuration creates (functions, accounts, role, secrets, queue, job, buckets, metrics), so that a second deployment (staging, another SignalWire project) fits in the same GCP project. Empty for none."
  type        = string
  default     = ""

  validation {
    # Service account IDs are at most 30 characters: 9 + the hyphen + the longest name here (20).
    condition     = can(regex("^([a-z][a-z0-9]{0,8})?$", var.name_prefix))
    error_message = "name_prefix must be empty or 1-9 lowercase letters and digits starting with a letter (a hyphen is added)."
  }
}

variable "labels" {
  description = "Labels put on every resource that takes them."
  type        = map(string)
  default     = { app = "signalwire-gcs-archiver" }
}

# --- SignalWire ----------------------------------------------------------------------------------
variable "signalwire_space_url" {
  description = "Your space, e.g. https://example.signalwire.com."
  type        = string

  validation {
    condition     = can(regex("^https://[a-z0-9][a-z0-9-]*\\.signalwire\\.com$", var.signalwire_space_url))
    error_message = "signalwire_space_url must be https://YOUR-SPACE.signalwire.com with no path or trailing slash."
  }
}

variable "signalwire_project_id" {
  description = "SignalWire Project ID (a UUID). Not a secret; the API token and Signing Key are."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", var.signalwire_project_id))
    error_message = "signalwire_project_id must be the project's UUID (Dashboard -> API Credentials)."
  }
}

# Ephemeral: Terraform keeps these in neither the state nor a saved plan. They reach Secret Manager
# only through the write-only secret_data_wo argument, when the matching *_version below changes.
variable "signalwire_api_token" {
  description = "SignalWire API token (Voice scope). Written to Secret Manager when api_token_version changes; set TF_VAR_signalwire_api_token."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "signalwire_signing_key" {
  description = "SignalWire Signing Key (PSK_...). Written to Secret Manager when signing_key_version changes; set TF_VAR_signalwire_signing_key."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "api_token_version" {
  description = "Bump (1, 2, 3, ...) to store a new API token: a new secret version is created and the functions move to it."
  type        = number
  default     = 1

  validation {
    condition     = var.api_token_version >= 1 && floor(var.api_token_version) == var.api_token_version
    error_message = "api_token_version must be a whole number from 1."
  }
}

variable "signing_key_version" {
  description = "Bump (1, 2, 3, ...) to store a new Signing Key: a new secret version is created and the callback function moves to it."
  type        = number
  default     = 1

  validation {
    condition     = var.signing_key_version >= 1 && floor(var.signing_key_version) == var.signing_key_version
    error_message = "signing_key_version must be a whole number from 1."
  }
}

variable "public_url" {
  description = "The exact callback URL configured at SignalWire, if it is not the function's own https://REGION-PROJECT.cloudfunctions.net/NAME (a custom domain in front of it)."
  type        = string
  default     = ""

  validation {
    condition     = var.public_url == "" || can(regex("^https://[^/?#]+(/[^#]*)?$", var.public_url))
    error_message = "public_url must be empty or a full https:// URL without a fragment."
  }
}

variable "recording_format" {
  description = "mp3 or wav."
  type        = string
  default     = "mp3"

  validation {
    condition     = contains(["mp3", "wav"], var.recording_format)
    error_message = "recording_format must be mp3 or wav."
  }
}

variable "delete_after_archive" {
  description = "Delete each recording at SignalWire once its archive is verified. Irreversible for the recording at SignalWire; off by default."
  type        = bool
  default     = false
}

variable "max_recording_mb" {
  description = "Largest recording archived (MiB); a larger or endless stream is aborted with nothing kept. 4096 is over 6 hours of stereo WAV."
  type        = number
  default     = 4096

  validation {
    condition     = var.max_recording_mb >= 1 && var.max_recording_mb <= 16384
    error_message = "max_recording_mb must be between 1 and 16384."
  }
}

# --- the bucket ----------------------------------------------------------------------------------
variable "bucket_name" {
  description = "Name of the archive bucket to create (globally unique). Required unless existing_bucket_name is set."
  type        = string
  default     = ""

  validation {
    condition     = var.bucket_name != "" || var.existing_bucket_name != ""
    error_message = "Set bucket_name (a bucket to create) or existing_bucket_name (a bucket you already have)."
  }

  validation {
    # The build account may read objects in Cloud Functions' gcf-v2-sources-* staging buckets (iam.tf).
    condition     = !startswith(var.bucket_name, "gcf-")
    error_message = "bucket_name must not start with gcf-: that prefix is Cloud Functions' own, whose staging buckets the build account may read."
  }

  validation {
    condition     = var.bucket_name == "" || can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 lowercase letters, digits, dots, hyphens and underscores, starting and ending with a letter or digit."
  }
}

variable "existing_bucket_name" {
  description = "Use this existing bucket instead of creating one (its hardening is then yours). With retention_mode = \"object\" (the default) it must have object retention enabled, which plan checks."
  type        = string
  default     = ""

  validation {
    # The build account may read objects in Cloud Functions' gcf-v2-sources-* staging buckets (iam.tf).
    condition     = !startswith(var.existing_bucket_name, "gcf-")
    error_message = "existing_bucket_name must not start with gcf-: that prefix is Cloud Functions' own, whose staging buckets the build account may read."
  }
}

variable "bucket_location" {
  description = "Location of the archive bucket (region, dual-region or multi-region)."
  type        = string
  default     = "US"
}

variable "archive_prefix" {
  description = "Object prefix inside the bucket (no leading or trailing slash); empty for none."
  type        = string
  default     = "recordings"

  validation {
    condition     = var.archive_prefix == "" || can(regex("^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$", var.archive_prefix))
    error_message = "archive_prefix must be empty or path segments of letters, digits, '_' and '-' joined by '/', with no leading or trailing slash."
  }
}

variable "retention_days" {
  description = "No archived object can be deleted or replaced before it is this old. 0 turns retention off and object versioning on instead."
  type        = number
  default     = 365

  validation {
    condition     = var.retention_days >= 0 && var.retention_days <= 36500 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number from 0 to 36500 (100 years, the GCS maximum)."
  }

  validation {
    # A bucket retention policy goes through the provider's retention_period, which it caps at
    # 2,147,483,647 s (IntBetween(1, math.MaxInt32), resource_storage_bucket.go, v6.50.0, line 428):
    # 24,855 whole days. Object retention is set by the archiver, not through the provider.
    condition     = var.retention_mode != "bucket" || var.retention_days <= 24855
    error_message = "With retention_mode = \"bucket\", retention_days must be at most 24855: the provider caps a bucket retention policy at 2,147,483,647 seconds."
  }
}

variable "retention_mode" {
  description = "How retention is enforced: \"object\" (GCS object retention set by the archiver on each object only once it is verified, so bytes that failed verification stay deletable and a name never gets stuck) or \"bucket\" (a bucket retention policy: every object from the moment it is written). Only settable when the bucket is created (infra/README.md)."
  type        = string
  default     = "object"

  validation {
    condition     = contains(["bucket", "object"], var.retention_mode)
    error_message = "retention_mode must be bucket or object."
  }
}

variable "lock_retention_policy" {
  description = "Lock retention. IRREVERSIBLE: a locked bucket policy (or a Locked object retention) can never be shortened or removed, and the bucket cannot be deleted until every object has aged out."
  type        = bool
  default     = false
}

variable "coldline_after_days" {
  description = "Move audio objects to Coldline at this age (days)."
  type        = number
  default     = 30

  validation {
    condition     = var.coldline_after_days >= 1
    error_message = "coldline_after_days must be at least 1."
  }
}

variable "archive_after_days" {
  description = "Move audio objects to Archive storage at this age (days)."
  type        = number
  default     = 365

  validation {
    # Coldline bills a 90-day minimum and Archive sits after it: an earlier Archive step skips Coldline.
    condition     = var.archive_after_days > var.coldline_after_days
    error_message = "archive_after_days must be greater than coldline_after_days."
  }
}

variable "kms_key_name" {
  description = "Optional CMEK: projects/P/locations/L/keyRings/R/cryptoKeys/K, in the bucket's location. The GCS service agent is granted use of it."
  type        = string
  default     = ""

  validation {
    condition     = var.kms_key_name == "" || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must be empty or projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

# --- the functions -------------------------------------------------------------------------------
variable "python_runtime" {
  description = "Cloud Functions Python runtime."
  type        = string
  default     = "python312"

  validation {
    condition     = can(regex("^python3(1[1-9]|[2-9][0-9])$", var.python_runtime))
    error_message = "python_runtime must be python311 or newer (the package needs Python 3.11+)."
  }
}

variable "webhook_memory" {
  description = "Memory of the callback function. In queued mode it verifies and enqueues, nothing more."
  type        = string
  default     = "256Mi"
}

variable "webhook_timeout_seconds" {
  description = "Request timeout of the callback function. SignalWire stops waiting after 5 s; verifying and enqueueing takes milliseconds."
  type        = number
  default     = 30

  validation {
    condition     = var.webhook_timeout_seconds >= 10 && var.webhook_timeout_seconds <= 300
    error_message = "webhook_timeout_seconds must be between 10 and 300: the callback only enqueues, and SignalWire waits 5 s."
  }
}

variable "webhook_concurrency" {
  description = "Simultaneous callbacks one instance handles."
  type        = number
  default     = 8
}

variable "webhook_max_instances" {
  description = "Upper bound on callback instances."
  type        = number
  default     = 20
}

variable "webhook_public_invoker" {
  description = "Grant roles/run.invoker to allUsers on the callback function. Set false where the domain-restricted-sharing organization policy forbids allUsers, and disable the invoker IAM check instead (infra/README.md)."
  type        = bool
  default     = true
}

variable "retry_budget_seconds" {
  description = "Seconds one recording may spend retrying SignalWire before the attempt answers 503 (the queue then retries it)."
  type        = number
  default     = 45

  validation {
    condition     = var.retry_budget_seconds >= 1 && var.retry_budget_seconds < var.worker_timeout_seconds
    error_message = "retry_budget_seconds must be at least 1 and below worker_timeout_seconds."
  }
}

variable "worker_memory" {
  description = "Memory of the archive-task worker. Peak use grows with concurrency, not recording size (README: Measured)."
  type        = string
  default     = "512Mi"
}

variable "worker_timeout_seconds" {
  description = "Request timeout of the worker, and each task's dispatch deadline (TASKS_DISPATCH_DEADLINE_SECONDS). Covers the largest recording (max_recording_mb)."
  type        = number
  default     = 1800

  validation {
    # Cloud Tasks allows HTTP tasks a dispatch deadline of at most 30 minutes: a longer worker would
    # be retried while still running.
    condition     = var.worker_timeout_seconds >= 60 && var.worker_timeout_seconds <= 1800
    error_message = "worker_timeout_seconds must be between 60 and 1800 (Cloud Tasks' longest dispatch deadline)."
  }
}

variable "worker_concurrency" {
  description = "Tasks one worker instance archives at once."
  type        = number
  default     = 4
}

variable "worker_max_instances" {
  description = "Upper bound on worker instances."
  type        = number
  default     = 10

  validation {
    condition     = var.worker_max_instances * var.worker_concurrency >= var.tasks_max_concurrent_dispatches
    error_message = "worker_max_instances x worker_concurrency must be at least tasks_max_concurrent_dispatches, or the queue's dispatches meet 429s."
  }
}

variable "reconcile_memory" {
  description = "Memory of the sweep function."
  type        = string
  default     = "1Gi"
}

variable "reconcile_timeout_seconds" {
  description = "Timeout of one sweep; the sweep stops starting work 60 s before it."
  type        = number
  default     = 900

  validation {
    # Cloud Scheduler waits at most 1,800 s for an HTTP target; a longer sweep would be cut off and retried.
    condition     = var.reconcile_timeout_seconds >= 120 && var.reconcile_timeout_seconds <= 1800
    error_message = "reconcile_timeout_seconds must be between 120 and 1800 (Cloud Scheduler's longest attempt deadline)."
  }
}

variable "reconcile_concurrency" {
  description = "Recordings one sweep checks at once."
  type        = number
  default     = 4
}

variable "reconcile_lookback_hours" {
  description = "Window of an ordinary sweep."
  type        = number
  default     = 48

  validation {
    # A task dropped after its last retry must still be inside the next sweeps' window to be re-enqueued,
    # and its name stays taken for about an hour after it ended (re-enqueueing answers already_queued).
    condition     = var.reconcile_lookback_hours >= var.tasks_max_retry_hours + 2
    error_message = "reconcile_lookback_hours must be at least tasks_max_retry_hours + 2: the queue's retries, then the hour a task name stays taken, then one sweep."
  }
}

variable "reconcile_max_window_days" {
  description = "Largest window one sweep request may ask for."
  type        = number
  default     = 31

  validation {
    condition     = var.reconcile_max_window_days >= 1 && var.reconcile_max_window_days * 24 >= var.reconcile_lookback_hours
    error_message = "reconcile_max_window_days must be at least 1 and cover reconcile_lookback_hours."
  }
}

variable "sweep_schedule" {
  description = "Cron schedule of the sweep (UTC)."
  type        = string
  default     = "17 * * * *"
}

# --- the task queue ------------------------------------------------------------------------------
variable "tasks_max_dispatches_per_second" {
  description = "Tasks the queue starts per second: each is about three SignalWire requests (metadata, media, and the delete when enabled)."
  type        = number
  default     = 10

  validation {
    condition     = var.tasks_max_dispatches_per_second > 0 && var.tasks_max_dispatches_per_second <= 500
    error_message = "tasks_max_dispatches_per_second must be above 0 and at most 500 (Cloud Tasks' limit)."
  }
}

variable "tasks_max_concurrent_dispatches" {
  description = "Tasks in flight at once: simultaneous downloads from SignalWire."
  type        = number
  default     = 20

  validation {
    condition     = var.tasks_max_concurrent_dispatches >= 1 && var.tasks_max_concurrent_dispatches <= 5000
    error_message = "tasks_max_concurrent_dispatches must be between 1 and 5000."
  }
}

variable "tasks_max_retry_hours" {
  description = "How long the queue keeps retrying a recording that fails (hours); then the hourly sweep takes over."
  type        = number
  default     = 24

  validation {
    condition     = var.tasks_max_retry_hours >= 1 && var.tasks_max_retry_hours <= 720
    error_message = "tasks_max_retry_hours must be between 1 and 720."
  }
}

# --- alerts --------------------------------------------------------------------------------------
variable "notification_channels" {
  description = "Monitoring notification channel IDs (projects/P/notificationChannels/N) that alerts go to; at least one, or every alert notifies nobody (infra/README.md, \"Alerts\")."
  type        = list(string)

  validation {
    condition     = length(var.notification_channels) >= 1
    error_message = "notification_channels needs at least one channel (gcloud beta monitoring channels list): an alert without one notifies nobody."
  }

  validation {
    condition     = alltrue([for channel in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[0-9]+$", channel))])
    error_message = "Each notification channel must be projects/PROJECT/notificationChannels/ID."
  }
}

# --- the audit trail (audit.tf) --------------------------------------------------------------------
variable "audit_log_retention_days" {
  description = "How long the audit trail (the functions' logs and the archive bucket's Cloud Audit Logs) is kept in its own log bucket, in days. Default 2555, seven years."
  type        = number
  default     = 2555

  validation {
    condition     = var.audit_log_retention_days >= 1 && var.audit_log_retention_days <= 3650
    error_message = "audit_log_retention_days must be between 1 and 3650 (Cloud Logging's maximum)."
  }
}

variable "lock_audit_log_bucket" {
  description = "Lock the audit log bucket: its retention can then never be shortened, and it cannot be deleted while it holds entries. Irreversible."
  type        = bool
  default     = false
}

variable "audit_log_location" {
  description = "Where the audit log bucket (and its linked BigQuery dataset) lives: \"global\" or a Cloud Logging region such as \"us-central1\"."
  type        = string
  default     = "global"
}
