terraform {
  # 1.11: write-only arguments (secret_data_wo) and ephemeral variables keep the SignalWire secrets
  # out of both the state and saved plans; 1.9+ lets a variable's validation read other variables.
  required_version = ">= 1.11"

  required_providers {
    # Pinned to the major versions whose published schemas `make lint` checks this configuration
    # against (google 6.50, time 0.13, archive 2.7; see infra/README.md, "Checks").
    google = {
      source  = "hashicorp/google"
      version = "~> 6.50"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
    }
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
