"""What the endpoint peers (laml_api, relay_api, events) need of the stand-in space: a Protocol, so none imports it."""

from __future__ import annotations

from typing import Protocol

from werkzeug.wrappers import Request, Response

from localspace.listing import Listing
from localspace.recording import FakeRecording, Fault


class Host(Protocol):
    """The space's state and shared answers, as `localspace.space.Space` provides them."""

    project_id: str
    recordings: dict[str, FakeRecording]
    listing: Listing

    @property
    def url(self) -> str: ...
    @property
    def other_host_url(self) -> str: ...
    def error(self, status: int, message: str, retry_after: str | None = None, api: str = "laml") -> Response: ...
    def apply(self, fault: Fault | None, api: str = "laml") -> Response | None: ...
    def next_fault(self, sid: str, kind: str) -> Fault | None: ...
    def guard(
        self, request: Request, sid: str, kind: str, account: str | None = None
    ) -> tuple[Response | None, Fault | None]: ...
    def find(self, sid: str, api: str) -> FakeRecording | None: ...
    def remove(self, sid: str, api: str) -> Response: ...
