"""A full disk on the machine: a clear error naming the path, and the old file left whole."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from weatherballoon.cli.errors import SyncError
from weatherballoon.cli.sync.client import sync_up
from weatherballoon.remote.sync.writer import TEMP_PREFIX

from tests.support.requirements import unavailable

from .conftest import LocalAgentRunner
from .trees import write

REMOTE = "~/wb/proj"


@pytest.fixture
def small_remote_disk(runner: LocalAgentRunner) -> Iterator[Path]:
    """The remote root on a 1 MiB tmpfs (needs root; where mounting is refused it skips, or fails under CI=true)."""
    root = runner.home / "wb" / "proj"
    root.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(root)], capture_output=True, check=False
    )
    if done.returncode != 0:
        unavailable(f"cannot mount a small tmpfs here: {done.stderr.decode().strip() or 'not root'}")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


def test_a_full_disk_fails_clearly_and_keeps_the_old_file(
    project: Path, runner: LocalAgentRunner, small_remote_disk: Path
) -> None:
    write(project, "data.bin", b"old content " * 1000)
    write(project, "small.txt", "fits")
    sync_up(runner, project, REMOTE)
    write(project, "data.bin", os.urandom(2 << 20))
    with pytest.raises(SyncError) as caught:
        sync_up(runner, project, REMOTE)
    error = caught.value
    assert "no space left on device" in error.message
    assert str(small_remote_disk / "data.bin") in error.message
    assert error.hint and "df -h" in error.hint
    assert (small_remote_disk / "data.bin").read_bytes() == b"old content " * 1000
    assert not [name for name in os.listdir(small_remote_disk) if name.startswith(TEMP_PREFIX)]
    write(project, "data.bin", b"smaller again")
    assert sync_up(runner, project, REMOTE).files_sent == 1  # the next sync recovers
