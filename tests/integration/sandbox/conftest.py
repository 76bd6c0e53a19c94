"""One sandbox per test session, started with the README's flags through the real `wb` binary, and always
taken down again (`wb sandbox down` in the finalizer, whatever the tests did)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.sandbox.support import Sandbox
from tests.support.requirements import unavailable

UP = ("sandbox", "up", "--reaper-period", "2", "--lease-minutes", "0.2", "--idle-minutes", "0.1")


def sandbox_unavailable() -> str | None:
    """Why this machine cannot run a sandbox (the tests then skip, or fail under CI=true), or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, an account, sshd)"
    for tool in ("ip", "sshd", "unshare", "useradd", "runuser"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} is not installed"
    probe = f"wbsbx-probe-test-{os.getpid()}"
    added = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if added.returncode != 0:
        return f"`ip netns add` refused: {added.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], check=False)
    return None


@pytest.fixture(scope="session")
def sandbox_possible() -> None:
    why = sandbox_unavailable()
    if why:
        unavailable(f"sandbox: {why}")


def new_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    data_dir = tmp_path_factory.mktemp("sandbox-data")
    cwd = tmp_path_factory.mktemp("sandbox-cwd")
    return Sandbox(data_dir=data_dir, cwd=cwd)


@pytest.fixture(scope="session")
def sandbox(sandbox_possible: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = new_sandbox(tmp_path_factory)
    try:
        up = box.wb(*UP, timeout=200)
        assert up.returncode == 0, up.stderr
        box.read_exports()
        yield box
    finally:
        box.wb("sandbox", "down", timeout=120)


@pytest.fixture
def fresh_sandbox_dir(sandbox_possible: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A data dir of the test's own, for a sandbox the test starts (and may break) itself."""
    box = new_sandbox(tmp_path_factory)
    try:
        yield box
    finally:
        box.wb("sandbox", "down", timeout=120)
