"""Archive SignalWire call recordings into Google Cloud Storage, verified and exactly once."""

__version__ = "0.1.0"
