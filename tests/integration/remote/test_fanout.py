"""`fanout-serve` and `fanout-fetch` (remote/sync/fanout.py) between two agents with state of their own, as
rank 0 and rank 1 of a gang, over loopback TCP."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from weatherballoon.remote.sync.state import read_record, save_record

from tests.integration.remote.conftest import Agent

TOKEN = b"0123456789abcdef0123456789abcdef\n"


def record_as(agent: Agent, monkeypatch: pytest.MonkeyPatch, root: Path, paths: set[str], owner: str) -> None:
    """The sync record a sync to `agent`'s machine would have left for `root`."""
    with monkeypatch.context() as patch:
        patch.setenv("WB_AGENT_HOME", str(agent.home))
        save_record(str(root), paths, owner, "proj")


def read_as(agent: Agent, monkeypatch: pytest.MonkeyPatch, root: Path) -> tuple[set[str], str] | None:
    with monkeypatch.context() as patch:
        patch.setenv("WB_AGENT_HOME", str(agent.home))
        record = read_record(str(root))
    return None if record is None else (record.paths, record.owner)


def serve(agent: Agent, root: Path, clients: int = 1) -> tuple[subprocess.Popen, int]:
    proc = agent.popen("fanout-serve", str(root), "--clients", str(clients), stdin=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(TOKEN)
    proc.stdin.close()
    first = proc.stdout.readline().split()
    assert first[0] == b"port", first
    return proc, int(first[1])


def test_a_rank_gets_exactly_what_rank_0_synced(
    agent_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rank0 = Agent(agent_zip, tmp_path / "home0", tmp_path)
    rank1 = Agent(agent_zip, tmp_path / "home1", tmp_path)
    root0, root1 = tmp_path / "root0", tmp_path / "root1"
    (root0 / "sub").mkdir(parents=True)
    (root0 / "a.txt").write_text("alpha\n")
    (root0 / "sub" / "b.bin").write_bytes(bytes(range(256)) * 100)
    os.utime(root0 / "sub" / "b.bin", (1_600_000_000, 1_600_000_000))
    (root0 / "run.sh").write_text("#!/bin/sh\n")
    (root0 / "run.sh").chmod(0o755)
    os.symlink("a.txt", root0 / "link")
    (root0 / "out").mkdir()
    (root0 / "out" / "result.txt").write_text("rank 0's output: never fanned out\n")
    synced = {"a.txt", "sub", "sub/b.bin", "run.sh", "link"}
    record_as(rank0, monkeypatch, root0, synced, "owner-1")
    root1.mkdir()
    (root1 / "old.txt").write_text("removed from the project since\n")
    (root1 / "job.log").write_text("a job's own file: not the sync's to delete\n")
    record_as(rank1, monkeypatch, root1, {"old.txt"}, "owner-1")

    server, port = serve(rank0, root0)
    intruder = rank1("fanout-fetch", str(root1), "--from", f"127.0.0.1:{port}", input=b"wrong-token\n")
    assert intruder.returncode == 4, intruder.stderr  # the server closed on it: a cut stream
    fetched = rank1("fanout-fetch", str(root1), "--from", f"127.0.0.1:{port}", input=TOKEN)
    assert fetched.returncode == 0, fetched.stderr
    assert server.wait(timeout=20) == 0
    report = json.loads(fetched.stdout)
    assert (report["files"], report["deleted"]) == (3, 1)
    assert (root1 / "a.txt").read_text() == "alpha\n"
    assert (root1 / "sub" / "b.bin").read_bytes() == bytes(range(256)) * 100
    assert (root1 / "sub" / "b.bin").stat().st_mtime == 1_600_000_000
    assert os.access(root1 / "run.sh", os.X_OK)
    assert os.readlink(root1 / "link") == "a.txt"
    assert not (root1 / "old.txt").exists()
    assert (root1 / "job.log").exists()
    assert not (root1 / "out").exists()
    assert read_as(rank1, monkeypatch, root1) == (synced, "owner-1")


def test_serving_a_root_nothing_was_synced_to_is_refused(agent_zip: Path, tmp_path: Path) -> None:
    rank0 = Agent(agent_zip, tmp_path / "home0", tmp_path)
    (tmp_path / "root0").mkdir()
    result = rank0("fanout-serve", str(tmp_path / "root0"), input=TOKEN)
    assert result.returncode == 8
    assert b"has no sync record: sync to this machine first" in result.stderr
