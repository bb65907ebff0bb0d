"""Maintenance commands run by the Makefile, not shipped to Cloud Functions."""
