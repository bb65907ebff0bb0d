"""Developer tools run by the Makefile (lock files, the Terraform schema check), not shipped to Cloud Functions."""
