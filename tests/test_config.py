"""Configuration parsing: accepted spellings, and one clear error naming each bad variable."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime

import pytest

from archiver.config import ConfigError, load
from archiver.layout import keys_for
from archiver.recordings import parse_date

PROJECT = "6bfbbe86-a901-4197-8759-2a0de1fa319d"
BASE = {
    "SIGNALWIRE_SPACE_URL": "example.signalwire.com",
    "SIGNALWIRE_PROJECT_ID": PROJECT,
    "SIGNALWIRE_API_TOKEN": "PTsecret",
}


def test_minimal_local_defaults() -> None:
    settings = load(BASE)
    assert settings.space_url == "https://example.signalwire.com"
    assert settings.api_base == f"https://example.signalwire.com/api/laml/2010-04-01/Accounts/{PROJECT}"
    assert settings.archive_uri == os.path.abspath("archive")
    assert settings.recording_format == "mp3"
    assert settings.signing_keys == ()
    assert settings.chunk_size == 8 * 1024 * 1024
    assert settings.delete_after_archive is False


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://example.signalwire.com", "https://example.signalwire.com"),
        ("https://example.signalwire.com/", "https://example.signalwire.com"),
        ("example.signalwire.com", "https://example.signalwire.com"),
        ("http://127.0.0.1:8089", "http://127.0.0.1:8089"),
        ("http://localhost:9", "http://localhost:9"),
        ("HTTPS://Example.SignalWire.com:443", "https://example.signalwire.com:443"),
        ("http://[::1]:8089", "http://[::1]:8089"),
    ],
)
def test_space_url_spellings(raw: str, expected: str) -> None:
    assert load({**BASE, "SIGNALWIRE_SPACE_URL": raw}).space_url == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("gs://my-bucket", "gs://my-bucket"),
        ("gs://my-bucket/", "gs://my-bucket"),
        ("gs://my-bucket/calls/prod/", "gs://my-bucket/calls/prod"),
        ("file:///tmp/arch", "/tmp/arch"),
        ("/tmp/arch", "/tmp/arch"),
    ],
)
def test_archive_uri_spellings(raw: str, expected: str) -> None:
    assert load({**BASE, "ARCHIVE_URI": raw}).archive_uri == expected


def test_a_space_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as refused:
        load({**BASE, "SIGNALWIRE_SPACE_URL": f"https://{PROJECT}:PT_pasted_token@example.signalwire.com"})
    assert "PT_pasted_token" not in str(refused.value)
    assert "//…@example.signalwire.com" in str(refused.value)


def test_secrets_are_not_in_repr() -> None:
    settings = load({**BASE, "SIGNALWIRE_SIGNING_KEY": "PSK_x"})
    assert "PTsecret" not in repr(settings)
    assert "PSK_x" not in repr(settings)
    basic = base64.b64encode(f"{PROJECT}:PTsecret".encode()).decode()
    assert settings.secrets == ("PTsecret", "PSK_x", basic)


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"SIGNALWIRE_SPACE_URL": ""}, "SIGNALWIRE_SPACE_URL"),
        ({"SIGNALWIRE_SPACE_URL": "ftp://x"}, "SIGNALWIRE_SPACE_URL"),
        ({"SIGNALWIRE_SPACE_URL": "https://x.signalwire.com/api"}, "SIGNALWIRE_SPACE_URL"),
        ({"SIGNALWIRE_SPACE_URL": "http://example.signalwire.com"}, "SIGNALWIRE_SPACE_URL"),
        # requests would send the credentials to evil.com for each of these.
        ({"SIGNALWIRE_SPACE_URL": "https://evil.com\\.signalwire.com"}, "SIGNALWIRE_SPACE_URL"),
        ({"SIGNALWIRE_SPACE_URL": "https://evil.com%2f.signalwire.com"}, "SIGNALWIRE_SPACE_URL"),
        ({"SIGNALWIRE_SPACE_URL": "https://x@evil.com"}, "SIGNALWIRE_SPACE_URL"),
        ({"SIGNALWIRE_SPACE_URL": "https://example.signalwire.com:99999"}, "SIGNALWIRE_SPACE_URL"),
        ({"SIGNALWIRE_SPACE_URL": "https://exa mple.signalwire.com"}, "SIGNALWIRE_SPACE_URL"),
        ({"SIGNALWIRE_PROJECT_ID": ""}, "SIGNALWIRE_PROJECT_ID"),
        ({"SIGNALWIRE_PROJECT_ID": "../../etc"}, "SIGNALWIRE_PROJECT_ID"),
        ({"SIGNALWIRE_API_TOKEN": " "}, "SIGNALWIRE_API_TOKEN"),
        ({"ARCHIVE_URI": "gs://Bad_Bucket!"}, "ARCHIVE_URI"),
        ({"ARCHIVE_URI": "gs://bucket/a/../b"}, "ARCHIVE_URI"),
        ({"ARCHIVE_URI": "s3://bucket"}, "ARCHIVE_URI"),
        ({"RECORDING_FORMAT": "ogg"}, "RECORDING_FORMAT"),
        ({"SIGNALWIRE_MEDIA_HOSTS": "https://media.example.com"}, "SIGNALWIRE_MEDIA_HOSTS"),
        ({"SIGNALWIRE_MEDIA_HOSTS": "media.example.com/path"}, "SIGNALWIRE_MEDIA_HOSTS"),
        ({"SIGNALWIRE_MEDIA_HOSTS": "user@media.example.com"}, "SIGNALWIRE_MEDIA_HOSTS"),
        ({"SIGNALWIRE_MEDIA_HOSTS": "media.example.com:port"}, "SIGNALWIRE_MEDIA_HOSTS"),
        ({"PUBLIC_URL": "archiver.example.com/cb"}, "PUBLIC_URL"),
        ({"RETRY_BUDGET_SECONDS": "soon"}, "RETRY_BUDGET_SECONDS"),
        ({"RETRY_BUDGET_SECONDS": "0"}, "RETRY_BUDGET_SECONDS"),
        ({"UPLOAD_CHUNK_MIB": "1.5"}, "UPLOAD_CHUNK_MIB"),
        ({"DELETE_AFTER_ARCHIVE": "maybe"}, "DELETE_AFTER_ARCHIVE"),
        ({"MAX_RECORDING_MB": "0"}, "MAX_RECORDING_MB"),
        ({"OBJECT_RETENTION_MODE": "forever"}, "OBJECT_RETENTION_MODE"),
        ({"OBJECT_RETENTION_DAYS": "-1"}, "OBJECT_RETENTION_DAYS"),
        ({"RECONCILE_MAX_WINDOW_DAYS": "many"}, "RECONCILE_MAX_WINDOW_DAYS"),
        ({"RECONCILE_LOOKBACK_HOURS": "800", "RECONCILE_MAX_WINDOW_DAYS": "31"}, "RECONCILE_LOOKBACK_HOURS"),
    ],
)
def test_bad_values_name_the_variable(overrides: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load({**BASE, **overrides})


QUEUED = {
    "TASKS_QUEUE": "projects/test-project/locations/us-central1/queues/archive",
    "TASKS_WORKER_URL": "https://worker.example.com/archive_task",
}


def test_a_queued_callback_function_needs_no_api_token() -> None:
    """It only verifies and enqueues: infra does not give it the token, and it starts without one."""
    env = {key: value for key, value in BASE.items() if key != "SIGNALWIRE_API_TOKEN"}
    settings = load({**env, **QUEUED, "FUNCTION_TARGET": "archive_recording"})
    assert settings.api_token == ""
    assert settings.secrets == ()


@pytest.mark.parametrize(
    "overrides",
    [
        {"FUNCTION_TARGET": "archive_recording"},  # not queued: it archives, so it calls SignalWire
        {**QUEUED, "FUNCTION_TARGET": "reconcile_recordings"},
        {**QUEUED, "FUNCTION_TARGET": "archive_task"},
        QUEUED,  # the CLI and local runs
    ],
)
def test_every_other_entry_point_still_needs_the_api_token(overrides: dict[str, str]) -> None:
    env = {key: value for key, value in BASE.items() if key != "SIGNALWIRE_API_TOKEN"}
    with pytest.raises(ConfigError, match="SIGNALWIRE_API_TOKEN is not set"):
        load({**env, **overrides})


def test_the_dispatch_deadline_follows_the_worker_timeout() -> None:
    assert load(BASE).tasks_dispatch_deadline_s == 1800
    assert load({**BASE, "TASKS_DISPATCH_DEADLINE_SECONDS": "600"}).tasks_dispatch_deadline_s == 600


@pytest.mark.parametrize("value", ["14", "1801", "600.5", "soon"])
def test_a_dispatch_deadline_cloud_tasks_refuses_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="TASKS_DISPATCH_DEADLINE_SECONDS"):
        load({**BASE, "TASKS_DISPATCH_DEADLINE_SECONDS": value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SIGNALWIRE_PROJECT_ID", "00000000-0000-0000-0000-000000000000"),
        ("SIGNALWIRE_API_TOKEN", "PT_replace_me"),
        ("SIGNALWIRE_SIGNING_KEY", "PSK_replace_me"),
    ],
)
def test_env_example_placeholders_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} still holds .env.example's placeholder"):
        load({**BASE, name: value})


def test_cloud_functions_requires_a_bucket() -> None:
    deployed = {**BASE, "K_SERVICE": "archive-recording", "PUBLIC_URL": "https://fn.example.com/"}
    with pytest.raises(ConfigError, match="ARCHIVE_URI"):
        load(deployed)
    with pytest.raises(ConfigError, match="ARCHIVE_URI"):
        load({**deployed, "ARCHIVE_URI": "/tmp/x"})
    assert load({**deployed, "ARCHIVE_URI": "gs://b-1"}).archive_uri == "gs://b-1"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Tue, 25 Sep 2018 23:00:00 +0000", datetime(2018, 9, 25, 23, tzinfo=UTC)),
        ("Tue, 25 Sept 2018 23:00:00 +0000", datetime(2018, 9, 25, 23, tzinfo=UTC)),  # as the docs spell it
        ("Wed, 26 Sep 2018 01:30:00 +0200", datetime(2018, 9, 25, 23, 30, tzinfo=UTC)),
        ("2018-09-25T23:00:00Z", datetime(2018, 9, 25, 23, tzinfo=UTC)),
    ],
)
def test_dates_parse_to_utc(raw: str, expected: datetime) -> None:
    assert parse_date(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "yesterday", 12])
def test_bad_dates_raise(raw: object) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_date(raw)


def test_object_keys_use_utc_creation_day_not_call_sid() -> None:
    created = parse_date("Wed, 26 Sep 2018 01:30:00 +0200")
    audio, meta = keys_for(PROJECT, "19e436af-5688-4307-b03b-bdb2b42b8142", created, "mp3")
    assert audio == f"{PROJECT}/2018/09/25/19e436af-5688-4307-b03b-bdb2b42b8142.mp3"
    assert meta == f"{PROJECT}/2018/09/25/19e436af-5688-4307-b03b-bdb2b42b8142.json"


QUEUE = "projects/my-project/locations/us-central1/queues/archive"
WORKER = "https://us-central1-my-project.cloudfunctions.net/archive-task"
ACCOUNT = "tasks-invoker@my-project.iam.gserviceaccount.com"


def test_queued_mode_settings() -> None:
    assert load(BASE).tasks_queue is None  # inline mode by default
    settings = load(
        {
            **BASE,
            "TASKS_QUEUE": QUEUE,
            "TASKS_WORKER_URL": WORKER,
            "TASKS_SERVICE_ACCOUNT": ACCOUNT,
            "CLOUD_TASKS_EMULATOR_HOST": "localhost:9022",
        }
    )
    assert (settings.tasks_queue, settings.tasks_worker_url) == (QUEUE, WORKER)
    assert (settings.tasks_service_account, settings.tasks_emulator_host) == (ACCOUNT, "localhost:9022")
    assert load({**BASE, "TASKS_QUEUE": QUEUE, "TASKS_WORKER_URL": "http://127.0.0.1:8081/"}).tasks_worker_url


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"TASKS_QUEUE": "archive"}, "TASKS_QUEUE must be projects/PROJECT/locations/LOCATION/queues/QUEUE"),
        ({"TASKS_QUEUE": QUEUE + "/tasks/x"}, "TASKS_QUEUE must be"),
        ({"TASKS_QUEUE": QUEUE}, "TASKS_WORKER_URL is not set"),
        ({"TASKS_QUEUE": QUEUE, "TASKS_WORKER_URL": "worker"}, "TASKS_WORKER_URL must be"),
        ({"TASKS_QUEUE": QUEUE, "TASKS_WORKER_URL": "http://worker.example.com/"}, "TASKS_WORKER_URL may use http"),
        ({"TASKS_QUEUE": QUEUE, "TASKS_WORKER_URL": WORKER, "TASKS_SERVICE_ACCOUNT": "me"}, "TASKS_SERVICE_ACCOUNT"),
        ({"CLOUD_TASKS_EMULATOR_HOST": "http://localhost:9022"}, "CLOUD_TASKS_EMULATOR_HOST must be host:port"),
        ({"INVOKER_AUDIENCE": "archive-task"}, "INVOKER_AUDIENCE must be this function's own https URL"),
        ({"INVOKER_SERVICE_ACCOUNT": "scheduler"}, "INVOKER_SERVICE_ACCOUNT must be a service account email"),
    ],
)
def test_queued_mode_and_invoker_errors_name_the_variable(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load({**BASE, **overrides})


@pytest.mark.parametrize("target", ["archive_task", "reconcile_recordings"])
def test_deployed_private_entry_points_need_their_caller_named(target: str) -> None:
    deployed = {**BASE, "ARCHIVE_URI": "gs://my-bucket", "K_SERVICE": "svc", "FUNCTION_TARGET": target}
    with pytest.raises(ConfigError, match="INVOKER_AUDIENCE is not set"):
        load(deployed)
    with pytest.raises(ConfigError, match="INVOKER_SERVICE_ACCOUNT is not set"):
        load({**deployed, "INVOKER_AUDIENCE": WORKER})
    settings = load({**deployed, "INVOKER_AUDIENCE": WORKER, "INVOKER_SERVICE_ACCOUNT": ACCOUNT})
    assert (settings.deployed, settings.invoker_audience, settings.invoker_service_account) == (True, WORKER, ACCOUNT)
    # The public callback shares main.py and needs no invoker; locally nothing is required.
    public = {**deployed, "FUNCTION_TARGET": "archive_recording", "PUBLIC_URL": "https://hooks.example.com/"}
    assert load(public).invoker_audience is None
    assert load({**BASE, "FUNCTION_TARGET": target}).deployed is False


def test_several_signing_keys_and_a_callback_token_are_secrets() -> None:
    settings = load({**BASE, "SIGNALWIRE_SIGNING_KEY": " PSK_old , PSK_new ", "CALLBACK_TOKEN": "tok_0123456789abcdef"})
    assert settings.signing_keys == ("PSK_old", "PSK_new")
    assert settings.callback_token == "tok_0123456789abcdef"
    assert {"PSK_old", "PSK_new", "tok_0123456789abcdef"} <= set(settings.secrets)
    assert "PSK_old" not in repr(settings) and "tok_0123456789abcdef" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SIGNALWIRE_SIGNING_KEY", "PSK_old,,PSK_new", "empty entry"),
        ("SIGNALWIRE_SIGNING_KEY", "PSK_old,", "empty entry"),
        ("CALLBACK_TOKEN", "short", "at least 16"),
        ("CALLBACK_TOKEN", "has space in it 0123456789", "at least 16"),
        ("CALLBACK_TOKEN", "tøken-0123456789abcdef", "at least 16"),
    ],
)
def test_bad_keys_and_tokens_are_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load({**BASE, name: value})


def test_media_hosts_are_host_names_with_an_optional_port() -> None:
    settings = load({**BASE, "SIGNALWIRE_MEDIA_HOSTS": " Media.Example.com, files.example.net:8443 ,"})
    assert settings.media_hosts == frozenset({"media.example.com", "files.example.net:8443"})
    assert load(BASE).media_hosts == frozenset()
