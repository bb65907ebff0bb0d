"""Contract tests: what the stand-in space serves and sends, checked against SignalWire's published spec."""
