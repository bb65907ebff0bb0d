terraform {
  # 1.11: write-only arguments (secret_data_wo) and ephemeral variables keep the SignalWire secrets
  # out of both the state and saved plans; 1.9+ lets a variable's validation read other variables.
  required_version = ">= 1.11"

  required_providers {
    # Pinned exactly to the versions whose published schemas `make lint` checks this configuration
    # against (tools/tfschema/pins.py; infra/README.md, "Checks"): a range would let `init` pick a
    # release nobody checked (`~> 2.7` already resolves to archive 2.8.0). The check fails on a range.
    google = {
      source  = "hashicorp/google"
      version = "6.50.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "2.7.1"
    }
    time = {
      source  = "hashicorp/time"
      version = "0.13.1"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
