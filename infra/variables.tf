# --- where ---------------------------------------------------------------------------------------
variable "project_id" {
  description = "GCP project to deploy into."
  type        = string
}

variable "region" {
  description = "Region of the functions and the scheduler job, e.g. us-central1."
  type        = string
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
}

variable "signalwire_project_id" {
  description = "SignalWire Project ID (a UUID). Not a secret; the API token and Signing Key are, and go in Secret Manager."
  type        = string
}

variable "public_url" {
  description = "The exact callback URL configured at SignalWire. Empty: the function's own https://REGION-PROJECT.cloudfunctions.net/NAME URL (the callback_url output)."
  type        = string
  default     = ""
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

# --- the bucket ----------------------------------------------------------------------------------
variable "bucket_name" {
  description = "Name of the archive bucket to create. Ignored when existing_bucket_name is set."
  type        = string
  default     = ""
}

variable "existing_bucket_name" {
  description = "Use this existing bucket instead of creating one (its hardening is then yours)."
  type        = string
  default     = ""
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
}

variable "retention_days" {
  description = "Retention period: no object can be deleted or replaced before it is this old. 0 turns retention off and object versioning on instead."
  type        = number
  default     = 365
}

variable "lock_retention_policy" {
  description = "Lock the retention policy. IRREVERSIBLE: once locked it can never be shortened or removed, and the bucket cannot be deleted until every object has aged out."
  type        = bool
  default     = false
}

variable "coldline_after_days" {
  description = "Move audio objects to Coldline at this age (days)."
  type        = number
  default     = 30
}

variable "archive_after_days" {
  description = "Move audio objects to Archive storage at this age (days)."
  type        = number
  default     = 365
}

variable "kms_key_name" {
  description = "Optional CMEK: projects/P/locations/L/keyRings/R/cryptoKeys/K, in the bucket's location. The GCS service agent is granted use of it."
  type        = string
  default     = ""
}

# --- the functions -------------------------------------------------------------------------------
variable "python_runtime" {
  description = "Cloud Functions Python runtime."
  type        = string
  default     = "python312"
}

variable "webhook_name" {
  description = "Name of the callback function."
  type        = string
  default     = "archive-recording"
}

variable "webhook_memory" {
  description = "Memory of the callback function. Peak use grows with concurrency, not recording size (see README: Measured)."
  type        = string
  default     = "512Mi"
}

variable "webhook_timeout_seconds" {
  description = "Request timeout of the callback function; an hour-long WAV needs minutes."
  type        = number
  default     = 540
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

variable "retry_budget_seconds" {
  description = "Seconds one recording may spend retrying before the callback answers 503."
  type        = number
  default     = 45
}

variable "reconcile_name" {
  description = "Name of the sweep function."
  type        = string
  default     = "reconcile-recordings"
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
}

variable "reconcile_concurrency" {
  description = "Recordings one sweep archives at once."
  type        = number
  default     = 4
}

variable "reconcile_lookback_hours" {
  description = "Window of an ordinary sweep."
  type        = number
  default     = 48
}

variable "sweep_schedule" {
  description = "Cron schedule of the sweep (UTC)."
  type        = string
  default     = "17 * * * *"
}

# --- alerts --------------------------------------------------------------------------------------
variable "notification_channels" {
  description = "Monitoring notification channel IDs (projects/P/notificationChannels/N) that alerts go to."
  type        = list(string)
  default     = []
}
