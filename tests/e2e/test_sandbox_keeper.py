"""Leases follow commands, not connections: through `wb sandbox`, a connection keeper that holds a machine's
SSH connection never keeps the machine's lease alive once no command is attached (docs/supervision.md).

Lease 0.2 min, idle window 0.25 min, reaper every 2 s; the keeper holds the connection for 5 minutes.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from weatherballoon.lambdas.records import InstanceState

from tests.e2e.sandbox_support import Lab, sandbox_up, up_args, wait_for
from tests.integration.sandbox.conftest import sandbox_unavailable
from tests.support.project import keeper_pids
from tests.support.requirements import unavailable

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(300)]

REAPER_PERIOD_S = 2.0
LEASE_MINUTES = 0.2
IDLE_MINUTES = 0.25
KEEP_MINUTES = "5"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    why = sandbox_unavailable()
    if why:
        unavailable(f"sandbox: {why}")
    root, cwd = tmp_path_factory.mktemp("sandbox-keeper"), tmp_path_factory.mktemp("cwd-keeper")
    with sandbox_up(root, cwd, up_args(REAPER_PERIOD_S, LEASE_MINUTES, IDLE_MINUTES)) as box:
        found = Lab(box, tmp_path_factory.mktemp("projects-keeper"), reaper_period_s=REAPER_PERIOD_S,
                    lease_minutes=LEASE_MINUTES, idle_minutes=IDLE_MINUTES)  # fmt: skip
        try:
            yield found
        finally:
            found.close()


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="wbk-"))
    yield folder
    for pid in keeper_pids(folder):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(folder, ignore_errors=True)


def test_the_lease_lapses_once_commands_end_while_the_keeper_lives(lab: Lab, runtime_dir: Path) -> None:
    client = lab.client("keeper-lease", WB_KEEP_CONNECTION_MINUTES=KEEP_MINUTES, WB_RUNTIME_DIR=str(runtime_dir))
    first = client.wb("run", "--", "true").check()
    instance_id = first.launched()
    assert instance_id is not None, first.stderr
    (keeper,) = wait_for(lambda: keeper_pids(runtime_dir), 30, "the keeper to listen")

    # The next command reuses the machine through the keeper's connection (its claim included).
    second = client.wb("-v", "run", "--", "echo", "through the keeper").check()
    assert second.stdout == "through the keeper\n"
    assert second.reused() == instance_id, second.stderr
    assert "using the connection keeper" in second.stderr, second.stderr
    ended_at = time.monotonic()

    # No command attached: the warm window runs out, the reaper ends the machine, though the keeper holds
    # its connection for minutes more.
    bound_s = IDLE_MINUTES * 60 + LEASE_MINUTES * 60 + REAPER_PERIOD_S + 30
    wait_for(lambda: lab.box.live_host(instance_id) is None, bound_s, f"{instance_id} to be reaped")
    reaped_after = time.monotonic() - ended_at
    assert keeper in keeper_pids(runtime_dir), "the keeper should still be within its 5-minute window"
    row = client.row(instance_id)
    assert row is not None and row.state is not InstanceState.BUSY, row
    print(f"\n[keeper] the machine was reaped {reaped_after:.1f} s after the last command; the keeper still ran")
