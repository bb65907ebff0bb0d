"""Settings read once from the environment; a bad value fails at startup naming its variable."""

from __future__ import annotations

import base64
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args
from urllib.parse import urlsplit

SID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# RFC 1123 host names: what requests and urllib3 parse the same way (no backslash, no userinfo tricks).
_HOSTNAME_RE = re.compile(
    r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
_QUEUE_RE = re.compile(r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/queues/[A-Za-z0-9-]{1,100}$")
_HOST_PORT_RE = re.compile(r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[A-Za-z0-9.-]+$")
# Entry points only Google's own callers may invoke; deployed, they verify an OIDC token.
PRIVATE_TARGETS = frozenset({"reconcile_recordings", "archive_task"})
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

RecordingFormat = Literal["mp3", "wav"]
# The formats LaML serves a recording in (compatibility-api/recordings/main.tsp 83-102).
RECORDING_FORMATS: tuple[str, ...] = get_args(RecordingFormat)


class ConfigError(ValueError):
    """A configuration variable is missing or malformed."""


def is_sid(value: str) -> bool:
    """SignalWire SIDs are UUIDs; anything else could smuggle a path into a URL or object name."""
    return bool(SID_RE.fullmatch(value))


@dataclass(frozen=True)
class Settings:
    space_url: str
    project_id: str
    api_token: str = field(repr=False)
    # Several during a rotation: any of them signs a valid callback; the first is no better than the rest.
    signing_keys: tuple[str, ...] = field(repr=False)
    # A secret the status_url may carry as `?token=`, for JSON events SignalWire does not sign.
    callback_token: str | None = field(repr=False)
    public_url: str | None
    archive_uri: str
    recording_format: RecordingFormat
    retry_budget_s: float
    chunk_size: int
    max_recording_bytes: int
    delete_after_archive: bool
    reconcile_lookback_hours: float
    reconcile_concurrency: int
    reconcile_deadline_s: float
    reconcile_max_window_days: float
    object_retention_days: int = 0
    object_retention_mode: str = "Unlocked"
    # Queued mode (TASKS_QUEUE set): callbacks, the sweep and `backfill --enqueue` create Cloud Tasks.
    tasks_queue: str | None = None
    tasks_worker_url: str | None = None
    tasks_service_account: str | None = None
    tasks_emulator_host: str | None = None
    # How long Cloud Tasks waits for the worker's answer: the worker's own timeout (infra sets both).
    tasks_dispatch_deadline_s: int = 1800
    # Deployed (K_SERVICE set): who may call the private entry points.
    deployed: bool = False
    invoker_audience: str | None = None
    invoker_service_account: str | None = None
    # Hosts besides the space that receive the API credentials with a RELAY recording's media URL
    # (SIGNALWIRE_MEDIA_HOSTS): lower-case "host" or "host:port".
    media_hosts: frozenset[str] = frozenset()
    # A private entry point without INVOKER_* on a non-loopback address starts only when this says it is meant.
    allow_open_private: bool = False

    @property
    def api_base(self) -> str:
        return f"{self.space_url}/api/laml/2010-04-01/Accounts/{self.project_id}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in any output, the Basic `Authorization` credential included."""
        basic = base64.b64encode(f"{self.project_id}:{self.api_token}".encode()).decode() if self.api_token else ""
        return tuple(s for s in (self.api_token, *self.signing_keys, self.callback_token, basic) if s)


def _space_url(raw: str) -> str:
    # A URL pasted with credentials in it must not print them back in the error.
    shown = re.sub(r"//[^/@]*@", "//…@", raw)
    value = raw.strip().rstrip("/")
    if "://" not in value:
        value = "https://" + value
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"SIGNALWIRE_SPACE_URL must be a space such as https://example.signalwire.com, got {shown!r}")
    if parts.path or parts.query or parts.fragment or "@" in parts.netloc:
        raise ConfigError(f"SIGNALWIRE_SPACE_URL must be the space's origin only (no path), got {shown!r}")
    host = parts.hostname
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"SIGNALWIRE_SPACE_URL has an invalid port, got {shown!r}") from None
    if not (_HOSTNAME_RE.fullmatch(host) or _is_ip(host)):
        # requests would read `https://evil.com\.signalwire.com` as evil.com: only plain host names pass.
        raise ConfigError(f"SIGNALWIRE_SPACE_URL must name a plain host such as example.signalwire.com, got {shown!r}")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ConfigError(
            "SIGNALWIRE_SPACE_URL may use http only for a loopback stand-in; credentials would travel in clear"
        )
    netloc = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{netloc}" + (f":{port}" if port is not None else "")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _archive_uri(raw: str | None, on_cloud: bool) -> str:
    if not raw:
        if on_cloud:
            raise ConfigError("ARCHIVE_URI must be set to gs://BUCKET[/PREFIX] on Cloud Functions")
        return os.path.abspath("archive")
    raw = raw.strip()
    if raw.startswith("gs://"):
        bucket, _, prefix = raw[len("gs://") :].partition("/")
        if not _BUCKET_RE.match(bucket):
            raise ConfigError(f"ARCHIVE_URI has an invalid bucket name: {bucket!r}")
        prefix = prefix.strip("/")
        if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
            raise ConfigError(f"ARCHIVE_URI has an invalid prefix: {prefix!r}")
        return f"gs://{bucket}/{prefix}" if prefix else f"gs://{bucket}"
    if on_cloud:
        raise ConfigError(
            "ARCHIVE_URI must be gs://BUCKET[/PREFIX] on Cloud Functions: a local directory there is lost"
        )
    if "://" in raw and not raw.startswith("file://"):
        raise ConfigError(f"ARCHIVE_URI must be gs://BUCKET[/PREFIX], file:///DIR or a directory path, got {raw!r}")
    path = raw[len("file://") :] if raw.startswith("file://") else raw
    return os.path.abspath(path)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _number(env: Mapping[str, str], name: str, default: float, minimum: float, maximum: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be between {minimum:g} and {maximum:g}, got {raw!r}")
    return value


def _worker_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username:
        raise ConfigError(f"TASKS_WORKER_URL must be the worker function's https URL, got {raw!r}")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        # Cloud Tasks attaches OIDC tokens to https targets only.
        raise ConfigError("TASKS_WORKER_URL may use http only for a loopback worker (tests, local runs)")
    return raw


def _email(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    if value and not _EMAIL_RE.fullmatch(value):
        raise ConfigError(f"{name} must be a service account email, got {value!r}")
    return value or None


def _tasks(env: Mapping[str, str]) -> tuple[str | None, str | None, str | None, str | None]:
    """TASKS_QUEUE, TASKS_WORKER_URL, TASKS_SERVICE_ACCOUNT, CLOUD_TASKS_EMULATOR_HOST."""
    queue = env.get("TASKS_QUEUE", "").strip() or None
    if queue and not _QUEUE_RE.fullmatch(queue):
        raise ConfigError(f"TASKS_QUEUE must be projects/PROJECT/locations/LOCATION/queues/QUEUE, got {queue!r}")
    worker_url = env.get("TASKS_WORKER_URL", "").strip() or None
    if queue and not worker_url:
        raise ConfigError("TASKS_WORKER_URL is not set: queued mode (TASKS_QUEUE) needs the worker's URL")
    emulator = env.get("CLOUD_TASKS_EMULATOR_HOST", "").strip() or None
    if emulator and not _HOST_PORT_RE.fullmatch(emulator):
        raise ConfigError(f"CLOUD_TASKS_EMULATOR_HOST must be host:port, got {emulator!r}")
    account = _email(env, "TASKS_SERVICE_ACCOUNT")
    return queue, _worker_url(worker_url) if worker_url else None, account, emulator


def _invoker(env: Mapping[str, str], deployed: bool) -> tuple[str | None, str | None]:
    """INVOKER_AUDIENCE and INVOKER_SERVICE_ACCOUNT, required by a deployed private entry point."""
    audience = env.get("INVOKER_AUDIENCE", "").strip() or None
    if audience and urlsplit(audience).scheme != "https":
        raise ConfigError(f"INVOKER_AUDIENCE must be this function's own https URL, got {audience!r}")
    account = _email(env, "INVOKER_SERVICE_ACCOUNT")
    # The public callback function shares this code, so only a private entry point needs its caller named.
    if deployed and env.get("FUNCTION_TARGET", "").strip() in PRIVATE_TARGETS:
        for name, value in (("INVOKER_AUDIENCE", audience), ("INVOKER_SERVICE_ACCOUNT", account)):
            if not value:
                raise ConfigError(f"{name} is not set: a deployed private entry point verifies its caller's token")
    if bool(audience) != bool(account):
        # Half a check is no check, wherever this runs: refuse rather than quietly let every caller in.
        missing = "INVOKER_SERVICE_ACCOUNT" if audience else "INVOKER_AUDIENCE"
        raise ConfigError(f"{missing} is not set: INVOKER_AUDIENCE and INVOKER_SERVICE_ACCOUNT go together")
    return audience, account


def _api_token(env: Mapping[str, str], queued: bool) -> str:
    """SIGNALWIRE_API_TOKEN, which every entry point needs but a queued callback function: it only
    verifies and enqueues, so the deployment does not hand it the token at all."""
    if queued and env.get("FUNCTION_TARGET", "").strip() == "archive_recording":
        return env.get("SIGNALWIRE_API_TOKEN", "").strip()
    return _required(env, "SIGNALWIRE_API_TOKEN")


def _dispatch_deadline(env: Mapping[str, str]) -> int:
    # Cloud Tasks accepts 15 s to 30 minutes for an HTTP task.
    seconds = _number(env, "TASKS_DISPATCH_DEADLINE_SECONDS", 1800, 15, 1800)
    if seconds != int(seconds):
        raise ConfigError("TASKS_DISPATCH_DEADLINE_SECONDS must be a whole number of seconds")
    return int(seconds)


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set (see docs/configuration.md)")
    return value


def _signing_keys(raw: str) -> tuple[str, ...]:
    keys = tuple(key.strip() for key in raw.split(","))
    if raw.strip() and not all(keys):
        raise ConfigError("SIGNALWIRE_SIGNING_KEY has an empty entry: separate keys with single commas")
    return tuple(key for key in keys if key)


def _callback_token(raw: str) -> str | None:
    token = raw.strip()
    if token and (len(token) < 16 or not token.isascii() or not all(c.isalnum() or c in "-_" for c in token)):
        # It travels in a URL: letters, digits, - and _ need no escaping; short tokens can be guessed.
        raise ConfigError("CALLBACK_TOKEN must be at least 16 letters, digits, - or _ (try: openssl rand -hex 24)")
    return token or None


# .env.example's values: a .env copied but not filled in would otherwise fail on every request instead.
_PLACEHOLDERS = {
    "SIGNALWIRE_PROJECT_ID": "00000000-0000-0000-0000-000000000000",
    "SIGNALWIRE_API_TOKEN": "PT_replace_me",
    "SIGNALWIRE_SIGNING_KEY": "PSK_replace_me",
}


def warnings(settings: Settings) -> list[str]:
    """Settings that start but will not work as the operator probably expects."""
    found = []
    if not settings.signing_keys and not settings.callback_token:
        found.append("SIGNALWIRE_SIGNING_KEY is not set: every callback will be refused with 403")
    return found


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every variable; raises ConfigError naming the first bad one."""
    env = os.environ if env is None else env
    on_cloud = bool(env.get("K_SERVICE"))
    for name, placeholder in _PLACEHOLDERS.items():
        if env.get(name, "").strip() == placeholder:
            raise ConfigError(f"{name} still holds .env.example's placeholder: put your own value in .env")
    space_url = _space_url(_required(env, "SIGNALWIRE_SPACE_URL"))
    project_id = _required(env, "SIGNALWIRE_PROJECT_ID")
    if not is_sid(project_id):
        raise ConfigError("SIGNALWIRE_PROJECT_ID must be the project's UUID (Dashboard → API Credentials)")
    tasks_queue, worker_url, tasks_account, emulator = _tasks(env)
    api_token = _api_token(env, queued=tasks_queue is not None)
    public_url = env.get("PUBLIC_URL", "").strip() or None
    if public_url and urlsplit(public_url).scheme not in ("http", "https"):
        raise ConfigError(f"PUBLIC_URL must be the full http(s) URL configured at SignalWire, got {public_url!r}")
    if on_cloud and not public_url and env.get("FUNCTION_TARGET", "archive_recording") == "archive_recording":
        # Behind Google's front end the forwarded host is Google's to set; only the configured URL is sure.
        raise ConfigError("PUBLIC_URL must be set when deployed: the exact callback URL configured at SignalWire")
    fmt = env.get("RECORDING_FORMAT", "mp3").strip().lower() or "mp3"
    if fmt not in RECORDING_FORMATS:
        raise ConfigError(f"RECORDING_FORMAT must be mp3 or wav, got {fmt!r}")
    chunk_mib = _number(env, "UPLOAD_CHUNK_MIB", 8, 1, 256)
    if chunk_mib != int(chunk_mib):
        raise ConfigError("UPLOAD_CHUNK_MIB must be a whole number of MiB")
    audience, invoker_account = _invoker(env, on_cloud)
    max_window_days = _number(env, "RECONCILE_MAX_WINDOW_DAYS", 31, 1, 3660)
    lookback_hours = _number(env, "RECONCILE_LOOKBACK_HOURS", 48, 1, 24 * 365)
    if lookback_hours > max_window_days * 24:
        raise ConfigError("RECONCILE_LOOKBACK_HOURS must not exceed RECONCILE_MAX_WINDOW_DAYS")
    return Settings(
        space_url=space_url,
        project_id=project_id.lower(),
        api_token=api_token,
        signing_keys=_signing_keys(env.get("SIGNALWIRE_SIGNING_KEY", "")),
        callback_token=_callback_token(env.get("CALLBACK_TOKEN", "")),
        public_url=public_url,
        archive_uri=_archive_uri(env.get("ARCHIVE_URI"), on_cloud),
        recording_format="wav" if fmt == "wav" else "mp3",
        retry_budget_s=_number(env, "RETRY_BUDGET_SECONDS", 45, 1, 3600),
        chunk_size=int(chunk_mib) * 1024 * 1024,
        max_recording_bytes=int(_number(env, "MAX_RECORDING_MB", 4096, 1, 1024 * 1024) * 1024 * 1024),
        delete_after_archive=_bool(env, "DELETE_AFTER_ARCHIVE", False),
        reconcile_lookback_hours=lookback_hours,
        reconcile_concurrency=int(_number(env, "RECONCILE_CONCURRENCY", 4, 1, 64)),
        reconcile_deadline_s=_number(env, "RECONCILE_DEADLINE_SECONDS", 480, 10, 3600),
        reconcile_max_window_days=max_window_days,
        object_retention_days=int(_number(env, "OBJECT_RETENTION_DAYS", 0, 0, 36500)),
        object_retention_mode=_retention_mode(env.get("OBJECT_RETENTION_MODE", "Unlocked")),
        tasks_queue=tasks_queue,
        tasks_worker_url=worker_url,
        tasks_service_account=tasks_account,
        tasks_emulator_host=emulator,
        tasks_dispatch_deadline_s=_dispatch_deadline(env),
        deployed=on_cloud,
        invoker_audience=audience,
        invoker_service_account=invoker_account,
        media_hosts=_media_hosts(env.get("SIGNALWIRE_MEDIA_HOSTS", "")),
        allow_open_private=_bool(env, "ALLOW_OPEN_PRIVATE_ENDPOINT", False),
    )


def _media_hosts(raw: str) -> frozenset[str]:
    """SIGNALWIRE_MEDIA_HOSTS: comma-separated host names (each optionally with :port), nothing else."""
    hosts = set()
    for entry in (part.strip().lower() for part in raw.split(",")):
        if not entry:
            continue
        name, _, port = entry.partition(":")
        if not _HOSTNAME_RE.fullmatch(name) or (port and not (port.isascii() and port.isdigit() and len(port) <= 5)):
            raise ConfigError(f"SIGNALWIRE_MEDIA_HOSTS must list host names such as media.example.com, got {entry!r}")
        hosts.add(entry)
    return frozenset(hosts)


def _retention_mode(raw: str) -> str:
    mode = raw.strip().capitalize() or "Unlocked"
    if mode not in ("Unlocked", "Locked"):
        raise ConfigError(f"OBJECT_RETENTION_MODE must be Unlocked or Locked, got {raw!r}")
    return mode
