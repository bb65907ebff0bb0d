"""The lock check in `make lint`: the committed locks pass it, and a planted change to an input or a lock fails it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from localspace.processes import ROOT
from tools import locks

RUNTIME_AND_BUILT_ON_IT = ["requirements-bench.txt", "requirements-dev.txt", "requirements.txt"]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the repository's requirement files, current as committed."""
    for path in ROOT.glob("requirements*"):
        shutil.copy(path, tmp_path)
    assert locks.problems(tmp_path) == []
    return tmp_path


def stale(root: Path) -> list[str]:
    return sorted(line.split()[0] for line in locks.problems(root) if "is stale" in line)


def test_a_dependency_added_to_the_runtime_input_fails_the_check(checkout: Path) -> None:
    with (checkout / "requirements.in").open("a") as source:
        source.write("google-cloud-tasks==2.22.0\n")
    # The runtime lock and the two that include requirements.in are stale; checkov's and pip-audit's are not.
    assert stale(checkout) == RUNTIME_AND_BUILT_ON_IT
    result = subprocess.run(
        [sys.executable, "-m", "tools.locks", "check", "--root", str(checkout)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "requirements.txt is stale: it was compiled from other contents of requirements.in; run" in result.stderr


def test_a_hand_edited_lock_fails_the_check_and_so_do_the_locks_constrained_by_it(checkout: Path) -> None:
    lock = checkout / "requirements.txt"
    text = lock.read_text()
    pin = re.search(r"^requests==\S+", text, re.MULTILINE)
    assert pin is not None
    lock.write_text(text.replace(pin.group(), "requests==0.0.1", 1))
    assert "requirements.txt was edited after `make lock` wrote it; run `make lock`" in locks.problems(checkout)
    assert stale(checkout) == ["requirements-bench.txt", "requirements-dev.txt"]


def test_an_input_without_a_lock_fails_the_check(checkout: Path) -> None:
    (checkout / "requirements-newtool.in").write_text("newtool==1.0\n")
    assert locks.problems(checkout) == ["requirements-newtool.txt is missing: run `make lock`"]


def test_a_lock_is_compiled_after_the_lock_it_is_constrained_by(checkout: Path) -> None:
    order = [source.name for source in locks.compile_order(checkout)]
    assert order.index("requirements.in") < order.index("requirements-dev.in") < order.index("requirements-bench.in")
    assert sorted(order) == sorted(path.name for path in checkout.glob("requirements*.in"))
