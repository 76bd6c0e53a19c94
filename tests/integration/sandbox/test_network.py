"""A host's processes are stopped as a machine shuts down: SIGTERM to everything in its network namespace, a
grace (`SHUTDOWN_GRACE_S`) to finish (a job writes its outputs, the agent pushes them), then SIGKILL."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from weatherballoon.sandbox import network

from tests.support.netns import NetNamespace, network_namespace_or_skip
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.netns, pytest.mark.timeout(60)]


@pytest.fixture
def netns() -> Iterator[NetNamespace]:
    with network_namespace_or_skip() as ns:
        yield ns


def start_in(ns: NetNamespace, script: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(ns.exec_argv(["sh", "-c", script]), stdin=subprocess.DEVNULL)
    wait_for(lambda: network.namespace_pids(ns.name), 10, f"a process runs in {ns.name}")
    return proc


def test_a_process_that_traps_sigterm_gets_to_write_its_file(netns: NetNamespace, tmp_path: Path) -> None:
    done = tmp_path / "outputs"
    proc = start_in(netns, f"trap 'echo pushed > {done}; exit 0' TERM; while :; do sleep 0.1; done")
    network.kill_namespace_processes(netns.name)
    assert done.read_text() == "pushed\n"
    assert network.namespace_pids(netns.name) == []
    assert proc.wait(5) == 0


def test_what_ignores_sigterm_is_killed_after_the_grace(netns: NetNamespace) -> None:
    proc = start_in(netns, "trap '' TERM; while :; do sleep 0.1; done")
    started = time.monotonic()
    network.kill_namespace_processes(netns.name, grace_s=0.5)
    assert time.monotonic() - started >= 0.5
    assert network.namespace_pids(netns.name) == []
    assert proc.wait(5) == -9


def test_the_grace_is_a_few_seconds_as_on_a_real_instance() -> None:
    assert 1.0 <= network.SHUTDOWN_GRACE_S <= 10.0
