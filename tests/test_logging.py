"""Log rendering: JSON for Cloud Logging, readable lines in a terminal, secrets scrubbed in both."""

from __future__ import annotations

import json

import pytest

from archiver.logging import configure, get_logger


@pytest.mark.parametrize("console", [False, True])
def test_rendering_and_redaction(console: bool, capsys: pytest.CaptureFixture[str]) -> None:
    configure(["PT_s3cret"], console=console)
    get_logger().info("recording archived", outcome="archived", error="token PT_s3cret leaked")
    out = capsys.readouterr().out
    assert "PT_s3cret" not in out
    assert "[REDACTED]" in out
    if console:
        assert "recording archived" in out
        assert not out.startswith("{")
    else:
        line = json.loads(out)
        assert line["message"] == "recording archived"
        assert line["severity"] == "INFO"
        assert "event" not in line
