"""Cloud Functions entry points: adapt HTTP requests to the `archiver` package, nothing more."""

from __future__ import annotations

import os
import sys

import flask
import functions_framework

from archiver import config, server, webhook
from archiver.logging import configure

server.harden()
try:
    _settings = config.load()
    _service = webhook.Service.from_settings(_settings)
    server.check_exposure(_settings, os.environ.get("FUNCTION_TARGET", ""), server.bind_host(sys.argv, os.environ))
except config.ConfigError as exc:
    # One clear line at startup instead of a traceback, and never a 500 per request.
    raise SystemExit(f"configuration error: {exc}") from None

configure(_settings.secrets)
for _warning in config.warnings(_settings):
    print(f"WARNING: {_warning}", file=sys.stderr, flush=True)


def _respond(reply: webhook.Reply) -> flask.Response:
    response = flask.jsonify(reply.body)
    response.status_code = reply.status
    response.headers.update(reply.headers)
    return response


def _signed_url(request: flask.Request) -> str:
    """The request URL with its query string exactly as sent: Flask's `url` decodes %-escapes in it,
    which would change what SignalWire signed (a GET callback's fields, `bodySHA256`, `token`)."""
    query = request.environ.get("QUERY_STRING", "")
    return request.base_url + (f"?{query}" if query else "")


@functions_framework.http
def archive_recording(request: flask.Request) -> flask.Response:
    """SignalWire's recording callbacks: cXML form POSTs and GETs, SWML/Calling API JSON events."""
    return _respond(
        webhook.handle_callback(_service, request.method, _signed_url(request), request.headers, request.stream)
    )


@functions_framework.http
def reconcile_recordings(request: flask.Request) -> flask.Response:
    """Cloud Scheduler's sweep (private: invoked with an OIDC token)."""
    return _respond(webhook.handle_sweep(_service, request.method, request.headers, request.stream))


@functions_framework.http
def archive_task(request: flask.Request) -> flask.Response:
    """Cloud Tasks' worker in queued mode (private: invoked with an OIDC token)."""
    return _respond(webhook.handle_task(_service, request.method, request.headers, request.stream))
