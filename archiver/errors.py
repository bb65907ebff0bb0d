"""Exceptions shared by the modules, each saying whether trying again can help and how a reply names it."""

from __future__ import annotations


class ArchiveError(Exception):
    """Base: `code` is the short name a 503 reply carries; the detail stays in the audit line."""

    code = "internal"
    retryable = True


class SignalWireError(ArchiveError):
    """A request to SignalWire failed in a way retrying will not fix."""

    code = "signalwire_refused"
    retryable = False

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        # SignalWire's HTTP status, when an answer (not the connection) failed.
        self.status = status


class TransientError(SignalWireError):
    """Worth another try: not yet available, rate limited, a 5xx, a cut connection, a passed deadline."""

    code = "signalwire_unavailable"
    retryable = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotAudio(TransientError):
    """A media answer that is not audio (an error page, JSON, an empty body): never stored, tried again."""

    code = "not_audio"


class NotFound(TransientError):
    """SignalWire answers 404: not available yet (a recording can lag its callback), or never."""


class NotThere(SignalWireError):
    """A recording only a CALLBACK_TOKEN holder named is still 404 when asked again: not waited for.

    Not retried by a queue either; if it does exist, the sweep archives it from the listing.
    """

    code = "not_found"


class UploadRestart(TransientError):
    """GCS ended a resumable upload session (410): the upload must start over from the first byte."""

    code = "storage_error"


class Unreachable(SignalWireError):
    """The space's host does not resolve or refuses connections: a configuration error, not a bad minute."""

    code = "signalwire_unreachable"


class NotFinal(SignalWireError):
    """SignalWire still reports the recording as not final; a later attempt may find it final."""

    code = "not_final"
    retryable = True


class TooLarge(ArchiveError):
    """A response is larger than its limit (metadata, a list page, or MAX_RECORDING_MB of audio)."""

    code = "too_large"
    retryable = False


class IntegrityError(ArchiveError):
    """The bytes read or stored are not the bytes expected."""

    code = "integrity"


class AlreadyExists(ArchiveError):
    """The object name is taken: another attempt created it first."""

    code = "conflict"


class DeleteForbidden(ArchiveError):
    """The store refuses to remove an object: a retention policy or hold protects it."""

    code = "delete_forbidden"
    retryable = False


class HoldNotConfirmed(ArchiveError):
    """The store answered a hold request without showing the hold as asked: it may not have been set."""

    code = "hold_not_confirmed"
    retryable = False


class DeletionUnrecorded(ArchiveError):
    """SignalWire deleted its copy, but its deletion record could not be written; no retry can: a recording
    SignalWire no longer has announces no size to check a delete against."""

    code = "storage_error"
    retryable = False


class Corrupt(ArchiveError):
    """A stored object disagrees with what its manifest recorded, or with the size SignalWire announces."""

    code = "corrupt"
    retryable = False
