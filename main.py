"""Cloud Functions entry points: adapt HTTP requests to the `archiver` package, nothing more."""

from __future__ import annotations

import os
import sys

import flask
import functions_framework

from archiver import webhook
from archiver.service import start_function

_service = start_function(os.environ, sys.argv)


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
