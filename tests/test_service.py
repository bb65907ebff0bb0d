"""The composition root: each part from the settings unless the caller brings its own, and no patching after."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from archiver import config
from archiver.auth import InvokerCheck
from archiver.laml import LamlSource
from archiver.relay import RelaySource
from archiver.service import Service
from archiver.signalwire import RetryPolicy
from archiver.storage import LocalStore
from archiver.tasks import TaskQueue

ENV = {
    "SIGNALWIRE_SPACE_URL": "example.signalwire.com",
    "SIGNALWIRE_PROJECT_ID": "6bfbbe86-a901-4197-8759-2a0de1fa319d",
    "SIGNALWIRE_API_TOKEN": "PTsecret",
    "RETRY_BUDGET_SECONDS": "7",
    "TASKS_QUEUE": "projects/test-project/locations/here/queues/archive",
    "TASKS_WORKER_URL": "https://worker.example.com/archive_task",
    "INVOKER_AUDIENCE": "https://worker.example.com/archive_task",
    "INVOKER_SERVICE_ACCOUNT": "scheduler@test-project.iam.gserviceaccount.com",
}


def test_every_part_comes_from_the_settings(tmp_path: Path) -> None:
    settings = config.load({**ENV, "ARCHIVE_URI": str(tmp_path)})
    service = Service.from_settings(settings)
    archiver = service.archiver
    assert archiver.settings is settings and service.settings is settings
    assert isinstance(archiver.store, LocalStore) and archiver.store.root == tmp_path
    # LaML first: the sweep lists in this order.
    assert list(archiver.sources) == ["laml", "relay"]
    assert isinstance(archiver.sources["laml"], LamlSource) and isinstance(archiver.sources["relay"], RelaySource)
    assert archiver.policy.budget_s == 7 and archiver.policy.on_retry is None
    assert isinstance(service.queue, TaskQueue) and service.queue.queue == ENV["TASKS_QUEUE"]
    assert isinstance(service.invoker, InvokerCheck)
    invoker = service.invoker
    assert (invoker.audience, invoker.email) == (ENV["INVOKER_AUDIENCE"], ENV["INVOKER_SERVICE_ACCOUNT"])


def test_a_part_brought_in_is_used_as_it_is(tmp_path: Path) -> None:
    settings = config.load({**ENV, "ARCHIVE_URI": str(tmp_path)})
    store = LocalStore(str(tmp_path), settings.chunk_size)
    policy = RetryPolicy(1.0, on_retry=lambda seconds, error: None)
    invoker = InvokerCheck("https://elsewhere.example.com/", "other@test-project.iam.gserviceaccount.com")
    service = Service.from_settings(settings, store=store, policy=policy, invoker=invoker, final_wait_s=0.5)
    assert service.archiver.store is store and service.archiver.policy is policy and service.invoker is invoker
    assert service.archiver.final_wait_s == 0.5


def test_a_built_service_is_not_patched(tmp_path: Path) -> None:
    service = Service.from_settings(config.load({**ENV, "ARCHIVE_URI": str(tmp_path)}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        service.invoker = None  # type: ignore[misc]
