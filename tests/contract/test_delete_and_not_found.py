"""What the stand-in's DELETE endpoints and a RELAY read of an unknown recording answer, against the spec.

Sources, in the signalwire/docs repository:
- LaML `DELETE /Accounts/{AccountSid}/Recordings/{Sid}`: "If the delete is successful, a 204 response, with
  no body, will be returned" (specs/compatibility-api/recordings/main.tsp 131-143; fern/apis/compatibility/
  openapi.yaml 4324-4343: 204, or 400/401/404/422 with a CompatibilityErrorResponse).
- RELAY `DELETE /api/relay/rest/recordings/{id}`: 204, or 401/404/422/500 (specs/signalwire-rest/relay-rest/
  recordings/main.tsp 46-61; fern/apis/signalwire-rest/openapi.yaml 9787-9812); `GET` the same errors
  (main.tsp 32-44). The error bodies are the Types.StatusCodes models (specs/signalwire-rest/types/
  status-codes/main.tsp 10-77), not the Compatibility API's.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from localspace.space import Fault, Space
from tests.contract.spec import COMPAT_ERROR, relay_error_violations, violations
from tests.helpers import TOKEN

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def laml_url(space: Space, sid: str) -> str:
    return f"{space.url}/api/laml/2010-04-01/Accounts/{space.project_id}/Recordings/{sid}"


def relay_url(space: Space, sid: str) -> str:
    return f"{space.url}/api/relay/rest/recordings/{sid}"


def ask(method: str, url: str, space: Space, token: str = TOKEN) -> requests.Response:
    return requests.request(method, url, auth=(space.project_id, token), timeout=10)


def check_compat_error(response: requests.Response, status: int) -> None:
    assert response.status_code == status and response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert violations(body, COMPAT_ERROR, closed=True) == [] and body["status"] == status, body


def check_relay_error(response: requests.Response, status: int) -> None:
    assert response.status_code == status and response.headers["Content-Type"].startswith("application/json")
    assert relay_error_violations(response.json(), status) == [], response.text


def test_laml_delete_answers_204_without_a_body_then_404(space: Space) -> None:
    """main.tsp 131-132: 204 with no body; 142 and openapi.yaml 4338-4343: 404 as a CompatibilityErrorResponse."""
    recording = space.add(size=2_000)
    deleted = ask("DELETE", laml_url(space, recording.sid), space)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert space.deleted == [recording.sid]
    check_compat_error(ask("DELETE", laml_url(space, recording.sid), space), 404)
    check_compat_error(ask("DELETE", laml_url(space, UNKNOWN), space), 404)
    # A RELAY recording is unknown to the LaML API (each API serves its own: localspace.space).
    relay = space.add(size=2_000, api="relay")
    check_compat_error(ask("DELETE", laml_url(space, relay.sid), space), 404)
    assert relay.sid in space.recordings
    check_compat_error(ask("DELETE", laml_url(space, relay.sid), space, token="wrong"), 401)  # main.tsp 141


def test_laml_delete_codes_are_signalwires_own(space: Space) -> None:
    """error-codes.mdx 194-197: 20404 for a resource that does not exist; 173-176: 20003 for authentication."""
    assert ask("DELETE", laml_url(space, UNKNOWN), space).json()["code"] == 20404
    assert ask("DELETE", laml_url(space, UNKNOWN), space, token="wrong").json()["code"] == 20003


def test_relay_delete_answers_204_without_a_body_then_404_not_found(space: Space) -> None:
    """relay-rest main.tsp 54-59: 204, then StatusCode404 `{"error": "Not Found"}` (status-codes main.tsp 24-29)."""
    recording = space.add(size=2_000, api="relay")
    deleted = ask("DELETE", relay_url(space, recording.sid), space)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert space.deleted == [recording.sid]
    check_relay_error(ask("DELETE", relay_url(space, recording.sid), space), 404)
    check_relay_error(ask("DELETE", relay_url(space, UNKNOWN), space), 404)
    laml = space.add(size=2_000)
    check_relay_error(ask("DELETE", relay_url(space, laml.sid), space), 404)
    assert laml.sid in space.recordings
    check_relay_error(ask("DELETE", relay_url(space, laml.sid), space, token="wrong"), 401)  # main.tsp 58


def test_relay_read_of_an_unknown_recording_is_404_not_found(space: Space) -> None:
    """relay-rest main.tsp 39-42: an unknown id is StatusCode404, `{"error": "Not Found"}` and nothing else."""
    check_relay_error(ask("GET", relay_url(space, UNKNOWN), space), 404)
    check_relay_error(ask("GET", relay_url(space, str(uuid.uuid4())), space), 404)
    deleted = space.add(size=2_000, api="relay")
    ask("DELETE", relay_url(space, deleted.sid), space)
    check_relay_error(ask("GET", relay_url(space, deleted.sid), space), 404)
    check_relay_error(ask("GET", relay_url(space, deleted.sid), space, token="wrong"), 401)


@pytest.mark.parametrize("status", [401, 404, 422, 500])
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_every_relay_recording_error_has_its_documented_shape(space: Space, method: str, status: int) -> None:
    """relay-rest main.tsp 39-44 and 54-61 name StatusCode401/404, ValidationError and StatusCode500."""
    recording = space.add(size=2_000, api="relay")
    space.fault(recording.sid, "json" if method == "GET" else "delete", Fault(status))
    check_relay_error(ask(method, relay_url(space, recording.sid), space), status)
