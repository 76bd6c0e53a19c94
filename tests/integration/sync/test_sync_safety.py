"""What a sync may never touch: anything outside the root, job outputs, files the job made."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from weatherballoon.cli.sync.client import sync_up
from weatherballoon.remote.sync.send import StreamEncoder
from weatherballoon.remote.sync.state import load_record, save_record
from weatherballoon.remote.sync.wire import (
    CHUNK,
    END_OF_FILE,
    TAG_DELETE,
    file_header,
    link_frame,
    path_frame,
)

from .conftest import LocalAgentRunner
from .trees import write

REMOTE = "~/wb/proj"


def crafted_stream(*frames: bytes) -> bytes:
    """A sync stream of these frames, one block each."""
    out = io.BytesIO()
    encoder = StreamEncoder(out.write, level=1)
    for frame in frames:
        encoder.add(frame)
        encoder.flush()
    encoder.close()
    return out.getvalue()


def file_frame(path: bytes, data: bytes) -> bytes:
    return file_header(path, 0o644, 0) + CHUNK.pack(len(data)) + data + END_OF_FILE


def test_job_created_files_and_protected_outputs_are_never_deleted(
    project: Path, runner: LocalAgentRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project, "train.py")
    write(project, "results/summary.csv", "synced before results/ was declared an output\n")
    sync_up(runner, project, REMOTE)
    remote = runner.home / "wb" / "proj"
    write(remote, "job-made.txt", "made by the job")
    write(remote, "outputs/model.pt", "checkpoint")
    (project / "results" / "summary.csv").unlink()
    (project / "train.py").unlink()
    summary = sync_up(runner, project, REMOTE, protect=["results/", "outputs/**"])
    assert summary.deleted == 1  # train.py only
    assert (remote / "job-made.txt").read_text() == "made by the job"
    assert (remote / "outputs/model.pt").read_text() == "checkpoint"
    assert (remote / "results/summary.csv").exists()
    monkeypatch.setenv("HOME", str(runner.home))  # where the agent keeps its record: ~/.weatherballoon
    assert load_record(str(remote)) == set()  # the output is forgotten, so never deleted later either


def test_local_files_under_output_globs_are_not_uploaded(project: Path, runner: LocalAgentRunner) -> None:
    write(project, "train.py")
    write(project, "outputs/old-model.pt", "pulled back last time")
    summary = sync_up(runner, project, REMOTE, protect=["outputs"])
    assert (summary.files_sent, summary.protected) == (1, 1)
    assert not (runner.home / "wb" / "proj" / "outputs").exists()


def test_a_neighbouring_project_is_untouched_by_deletions(project: Path, runner: LocalAgentRunner) -> None:
    write(project, "shared-name.py")
    sync_up(runner, project, REMOTE)
    write(runner.home / "wb" / "proj2", "shared-name.py", "another project")
    (project / "shared-name.py").unlink()
    assert sync_up(runner, project, REMOTE).deleted == 1
    assert (runner.home / "wb" / "proj2" / "shared-name.py").read_text() == "another project"


def test_a_hostile_stream_cannot_write_or_delete_outside_the_root(
    runner: LocalAgentRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = runner.home / "wb" / "proj"
    root.mkdir(parents=True)
    outside = runner.home / "victim.txt"
    outside.write_text("precious")
    os.symlink(runner.home, root / "escape")
    # even a record that lists hostile paths (damaged, or written by someone else) does not help
    monkeypatch.setenv("HOME", str(runner.home))
    save_record(str(root), {"../victim.txt", "escape/victim.txt", "/etc/hostname"})
    stream = crafted_stream(
        path_frame(TAG_DELETE, b"../victim.txt"),
        path_frame(TAG_DELETE, b"escape/victim.txt"),
        path_frame(TAG_DELETE, b"/etc/hostname"),
        file_frame(b"../evil.txt", b"evil"),
        file_frame(b"escape/evil.txt", b"evil"),
        file_frame(b"/tmp/evil.txt", b"evil"),
        link_frame(b"escape/evil-link", b"/"),
        file_frame(b"fine.txt", b"fine"),
    )
    done = runner.run("sync-apply", REMOTE, input=stream)
    assert done.returncode == 1
    errors = done.stderr.decode()
    assert "../evil.txt" in errors and "symlink" in errors and "absolute path" in errors
    assert outside.read_text() == "precious"
    assert not (runner.home / "evil.txt").exists() and not (runner.home / "evil-link").exists()
    assert not Path("/tmp/evil.txt").exists()
    assert (root / "fine.txt").read_text() == "fine"
    assert json.loads(done.stdout.decode().splitlines()[-1])["written"] == 1


def test_an_empty_stdin_changes_nothing(runner: LocalAgentRunner) -> None:
    for command in (["sync-apply", REMOTE], ["sync-scan", REMOTE, "--apply"]):
        done = runner.run(*command)
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert not (runner.home / "wb").exists()
    state = runner.home / ".weatherballoon"
    assert [path.suffix for path in state.rglob("*") if path.is_file()] in ([], [".lock"])  # a lock, no record


def test_a_truncated_stream_is_reported_and_keeps_what_was_complete(runner: LocalAgentRunner) -> None:
    stream = crafted_stream(file_frame(b"complete.txt", b"whole"), file_frame(b"cut.bin", os.urandom(100_000)))
    done = runner.run("sync-apply", REMOTE, input=stream[: len(stream) // 2])
    assert done.returncode == 4
    assert "truncated" in done.stderr.decode()
    root = runner.home / "wb" / "proj"
    assert (root / "complete.txt").read_text() == "whole"
    assert not (root / "cut.bin").exists()
    assert [p.name for p in root.iterdir()] == ["complete.txt"]  # no temp file left behind


def test_usage_errors_exit_2(runner: LocalAgentRunner) -> None:
    assert runner.run("sync-apply").returncode == 2
    assert runner.run("sync-scan", "a", "b").returncode == 2
    assert runner.run("sync-apply", REMOTE, "--protect").returncode == 2
