"""Tests, and the local stand-ins they start (also used by the benchmark and the demo)."""
