"""The recording model, standard library only: statuses, `Api`, `Trigger`, `Recording`, its date and number parsers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from enum import StrEnum
from typing import Any

FINAL_WITH_AUDIO = frozenset({"completed", "stopped"})
NO_AUDIO = frozenset({"absent", "failed"})
NOT_FINAL = frozenset({"in-progress", "paused", "resumed", "queued", "processing"})
# Any other word is reported as unknown (a WARNING naming it), never silently passed over.
KNOWN_STATUSES = FINAL_WITH_AUDIO | NO_AUDIO | NOT_FINAL


class Api(StrEnum):
    """The SignalWire API a recording belongs to; each member is its own name as a plain string."""

    LAML = "laml"
    RELAY = "relay"


class Trigger(StrEnum):
    """What made the archiver look at a recording: the word an audit line and a task body carry as `source`."""

    CALLBACK = "callback"
    # A callback only CALLBACK_TOKEN vouched for, whose 404 the worker does not wait out.
    TOKEN_CALLBACK = "token_callback"  # noqa: S105 (a trigger's name, not a secret)
    SWEEP = "sweep"
    BACKFILL = "backfill"


@dataclass(frozen=True)
class Recording:
    """A recording's metadata: the exact bytes SignalWire returned, and their parse.

    `data` reads like a LaML recording whichever API answered (`sid`, `status`, `date_created`, plus
    `api` and, for RELAY, the `format` its URL names); `raw` is stored verbatim.
    """

    raw: bytes
    data: dict[str, Any]

    @property
    def sid(self) -> str:
        return str(self.data.get("sid", ""))

    @property
    def status(self) -> str:
        return str(self.data.get("status") or "").lower()

    @property
    def api(self) -> str:
        return str(self.data.get("api") or Api.LAML)

    @property
    def announced_bytes(self) -> int | None:
        """The size SignalWire vouches for in the metadata itself (RELAY's `byte_size`), if it does."""
        size = self.data.get("byte_size")
        return size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None


def parse_date(value: Any) -> datetime:
    """RFC 2822 (as SignalWire sends) or ISO 8601, returned in UTC; ValueError otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"no date in {value!r}")
    text = value.strip()[:64]
    # SignalWire's own docs show "Sept"; RFC 2822 only knows "Sep".
    text = text.replace(" Sept ", " Sep ")
    try:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"date out of range: {text!r}") from None


def rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=False)


def whole_number(text: str, max_digits: int = 19) -> int | None:
    """A count written in ASCII digits, as a header or a manifest carries one; None for anything else.

    `str.isdigit()` alone also passes '³' or '٣', which `int()` then refuses or reads differently.
    """
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= max_digits else None
