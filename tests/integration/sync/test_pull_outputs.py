"""pull_outputs: a job's output globs come back under the local root, atomically, never outside it."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest
from weatherballoon.cli.errors import SyncError
from weatherballoon.cli.sync.client import pull_outputs, sync_up
from weatherballoon.remote.sync.send import StreamEncoder
from weatherballoon.remote.sync.wire import CHUNK, END_OF_FILE, file_header, link_frame

from .conftest import LocalAgentRunner
from .trees import snapshot, write

REMOTE = "~/wb/proj"


def job_outputs(runner: LocalAgentRunner) -> Path:
    remote = runner.home / "wb" / "proj"
    write(remote, "outputs/run1/model.pt", os.urandom(300_000), mode=0o600)
    write(remote, "outputs/metrics.json", '{"loss": 0.1}\n')
    os.symlink("run1", remote / "outputs" / "latest")
    write(remote, "logs/train.log", "epoch 1\n")
    write(remote, "logs/nested/skip.log", "not matched by logs/*.log\n")
    write(remote, "scratch.tmp", "not an output\n")
    os.utime(remote / "outputs/metrics.json", ns=(1_500_000_000_000_000_001,) * 2)
    return remote


def test_outputs_come_back_with_content_modes_mtimes_and_links(tmp_path: Path, runner: LocalAgentRunner) -> None:
    remote = job_outputs(runner)
    local = tmp_path / "local"
    summary = pull_outputs(runner, REMOTE, ["outputs", "logs/*.log"], local)
    assert snapshot(local) == {k: v for k, v in snapshot(remote).items() if k.startswith(("outputs/", "logs/train"))}
    assert (summary.files, summary.bytes) == (4, 300_000 + len('{"loss": 0.1}\n') + len("epoch 1\n"))
    assert os.readlink(local / "outputs" / "latest") == "run1"


def test_a_second_pull_fetches_only_what_changed(tmp_path: Path, runner: LocalAgentRunner) -> None:
    remote = job_outputs(runner)
    local = tmp_path / "local"
    pull_outputs(runner, REMOTE, ["outputs/**"], local)
    again = pull_outputs(runner, REMOTE, ["outputs/**"], local)
    assert (again.bytes, again.unchanged) == (0, 2)
    write(remote, "outputs/metrics.json", '{"loss": 0.05}\n')
    third = pull_outputs(runner, REMOTE, ["outputs/**"], local)
    assert (third.bytes, third.unchanged) == (len('{"loss": 0.05}\n'), 1)
    assert (local / "outputs/metrics.json").read_text() == '{"loss": 0.05}\n'


def test_pulled_outputs_are_neither_uploaded_nor_deleted_by_later_syncs(
    project: Path, runner: LocalAgentRunner
) -> None:
    write(project, "train.py")
    sync_up(runner, project, REMOTE, protect=["outputs"])
    remote = job_outputs(runner)
    pull_outputs(runner, REMOTE, ["outputs"], project)
    (project / "outputs" / "metrics.json").unlink()
    summary = sync_up(runner, project, REMOTE, protect=["outputs"])
    assert (summary.files_sent, summary.deleted, summary.protected) == (0, 0, 2)
    assert (remote / "outputs" / "metrics.json").exists()


def test_no_match_and_no_remote_root_pull_nothing(tmp_path: Path, runner: LocalAgentRunner) -> None:
    summary = pull_outputs(runner, "~/wb/never-synced", ["outputs"], tmp_path / "local")
    assert (summary.files, summary.bytes) == (0, 0)


class CannedAgent:
    """A real process that plays back a recorded agent answer, whatever it is asked."""

    def __init__(self, answer: Path) -> None:
        self.answer = answer

    def __call__(self, args: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            ["sh", "-c", 'cat >/dev/null; cat "$0"', str(self.answer)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )


def test_a_hostile_outputs_stream_cannot_write_outside_the_local_root(tmp_path: Path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    os.symlink(tmp_path, local / "escape")
    out = io.BytesIO()
    encoder = StreamEncoder(out.write)
    for path in (b"../evil.txt", b"escape/evil.txt", b"/tmp/wb-evil.txt", b"good.txt"):
        encoder.add(file_header(path, 0o644, 0) + CHUNK.pack(4) + b"data" + END_OF_FILE)
    encoder.add(link_frame(b"escape/evil-link", b"/"))
    encoder.close()
    answer = tmp_path / "answer.bin"
    answer.write_bytes(out.getvalue())
    with pytest.raises(SyncError, match="4 outputs could not be written") as caught:
        pull_outputs(CannedAgent(answer), REMOTE, ["**"], local)
    assert "symlink" in caught.value.message
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "evil-link").exists()
    assert not Path("/tmp/wb-evil.txt").exists()
    assert (local / "good.txt").read_text() == "data"


def test_an_output_folder_that_is_a_symlink_on_the_machine_is_walked_into(
    tmp_path: Path, runner: LocalAgentRunner
) -> None:
    big_disk = runner.home / "big-disk" / "outputs"
    write(big_disk, "model.pt", "weights")
    remote = runner.home / "wb" / "proj"
    remote.mkdir(parents=True)
    os.symlink(big_disk, remote / "outputs")
    local = tmp_path / "local"
    summary = pull_outputs(runner, REMOTE, ["outputs"], local)
    assert summary.files == 1
    assert (local / "outputs" / "model.pt").read_text() == "weights"
    assert not (local / "outputs").is_symlink()


def test_a_glob_that_starts_with_dashes_is_a_glob_not_an_option(tmp_path: Path, runner: LocalAgentRunner) -> None:
    remote = runner.home / "wb" / "proj"
    write(remote, "--notes.txt", "kept\n")
    summary = pull_outputs(runner, REMOTE, ["--notes*"], tmp_path / "local")
    assert summary.files == 1 and (tmp_path / "local" / "--notes.txt").read_text() == "kept\n"
