"""Offline check of Terraform configuration against the providers' published schemas (CDK for Terraform bindings)."""
