# One service account per job, each holding only what its job needs.

locals {
  accounts = {
    webhook   = { id = "archive-recording", name = "recording status callback: verifies and enqueues" }
    reconcile = { id = "reconcile-recordings", name = "scheduled sweep: finds and enqueues missed recordings" }
    worker    = { id = "archive-task", name = "archive-task worker: archives one recording per task" }
    scheduler = { id = "reconcile-scheduler", name = "Cloud Scheduler's caller of the sweep" }
    invoker   = { id = "tasks-invoker", name = "Cloud Tasks' caller of the worker (OIDC)" }
    build     = { id = "archiver-build", name = "Cloud Build for the functions" }
  }

  # The webhook only verifies and enqueues (queued mode): no bucket access. The sweep and the
  # worker read and write the archive.
  bucket_accounts = ["reconcile", "worker"]
  # The Signing Key verifies callbacks, which only the webhook receives. The API token: only the
  # worker and the sweep call SignalWire; the queued webhook never does and does not hold it.
  secret_readers = {
    "webhook-signing_key" = { account = "webhook", secret = "signing_key" }
    "reconcile-api_token" = { account = "reconcile", secret = "api_token" }
    "worker-api_token"    = { account = "worker", secret = "api_token" }
  }
  # Both create tasks that carry an OIDC token of the invoker account.
  enqueuers = ["webhook", "reconcile"]
}

resource "google_service_account" "sa" {
  for_each     = local.accounts
  account_id   = "${local.prefix}${each.value.id}"
  display_name = "SignalWire archiver${var.name_prefix == "" ? "" : " (${var.name_prefix})"}: ${each.value.name}"

  depends_on = [time_sleep.apis]
}

resource "google_storage_bucket_iam_member" "objects" {
  for_each = toset(local.bucket_accounts)
  bucket   = local.bucket_name
  role     = google_project_iam_custom_role.object_writer.name
  member   = google_service_account.sa[each.value].member

  lifecycle {
    precondition {
      # Empty unless existing_bucket_name is set (data.google_storage_bucket.existing in main.tf).
      condition     = !local.object_retention || alltrue([for bucket in data.google_storage_bucket.existing : bucket.enable_object_retention == true])
      error_message = "retention_mode = \"object\" needs object retention on the bucket, and ${var.existing_bucket_name} does not have it (it can only be enabled when a bucket is created): use a new bucket, or retention_mode = \"bucket\" with a retention policy you set on it."
    }
  }

  depends_on = [google_storage_bucket.archive]
}

resource "google_secret_manager_secret_iam_member" "readers" {
  for_each  = local.secret_readers
  secret_id = google_secret_manager_secret.signalwire[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.sa[each.value.account].member
}

resource "google_cloud_tasks_queue_iam_member" "enqueuers" {
  for_each = toset(local.enqueuers)
  location = google_cloud_tasks_queue.archive.location
  name     = google_cloud_tasks_queue.archive.name
  role     = "roles/cloudtasks.enqueuer"
  member   = google_service_account.sa[each.value].member
}

# Creating a task with an OIDC token for the invoker account is acting as that account.
resource "google_service_account_iam_member" "enqueuers_act_as_invoker" {
  for_each           = toset(local.enqueuers)
  service_account_id = google_service_account.sa["invoker"].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.sa[each.value].member
}

# The build account does three things (the provider's "Cloudfunctions2 Basic Builder" example grants
# the same three, each on the whole project): it reads the source from the gcf-v2-sources-* bucket
# Cloud Functions copies it to, writes the image to Artifact Registry and the build log to Cloud
# Logging. Google's shortcut, roles/run.builder on the project, includes storage.objects.get on
# every bucket, the recordings included. Here each is granted on what it needs only:
locals {
  build_grants = {
    # Log entries name no resource a condition could narrow; writing them reads nothing.
    logs = { role = "roles/logging.logWriter", buckets = null }
    # Objects only in Cloud Functions' staging buckets and the deployable zips' bucket.
    sources = { role = "roles/storage.objectViewer", buckets = ["gcf-v2-sources-", google_storage_bucket.source.name] }
  }
}

resource "google_project_iam_member" "build" {
  for_each = local.build_grants
  project  = var.project_id
  role     = each.value.role
  member   = google_service_account.sa["build"].member

  dynamic "condition" {
    for_each = each.value.buckets == null ? [] : [each.value.buckets]
    content {
      title       = "archiver build sources only"
      description = "Cloud Functions' gcf-v2-sources-* staging buckets and the archiver's source bucket, never the recordings"
      expression  = join(" || ", [for prefix in condition.value : "resource.name.startsWith(\"projects/_/buckets/${prefix}\")"])
    }
  }
}

# Images: write access to the functions' own repository (build_config.docker_repository), not to
# every repository of the project.
resource "google_artifact_registry_repository_iam_member" "build" {
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.sa["build"].member
}

# IAM grants take a while to reach every Google service; a build or an instance start that comes
# first fails (and taints the function). The provider's Cloud Functions builder example waits 60 s.
resource "time_sleep" "grants" {
  create_duration = "60s"
  triggers = {
    build   = join(",", sort(concat([for grant in google_project_iam_member.build : grant.id], [google_artifact_registry_repository_iam_member.build.id])))
    objects = join(",", sort([for grant in google_storage_bucket_iam_member.objects : grant.id]))
    secrets = join(",", sort([for grant in google_secret_manager_secret_iam_member.readers : grant.id]))
  }
}
