"""The same client code over a real OpenSSH sshd and paramiko (the lead's `RemoteAgent` as the runner)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from weatherballoon.cli.providers.records import SshTarget
from weatherballoon.cli.session.agent import RemoteAgent
from weatherballoon.cli.session.connection import ConnectOptions, SshSession
from weatherballoon.cli.sync.client import pull_outputs, sync_up

from tests.support.sshd import SshdHost

from .trees import snapshot, write


@pytest.fixture
def agent_over_ssh(sshd_host: SshdHost, ssh_identity: Path) -> Iterator[RemoteAgent]:
    target = SshTarget(host=sshd_host.address, port=sshd_host.port, username=sshd_host.user.name)
    options = ConnectOptions(known_hosts=sshd_host.known_hosts, identity_file=str(ssh_identity))
    with SshSession.open(target, options) as session:
        yield RemoteAgent(session)


def test_sync_and_pull_over_ssh(project: Path, sshd_host: SshdHost, agent_over_ssh: RemoteAgent) -> None:
    remote_root = f"~/wb/ssh-{os.getpid()}-{project.parent.name}"
    remote = sshd_host.user.home / remote_root[2:]
    write(project, "train.py", "print(1)\n" * 1000)
    write(project, "run.sh", "#!/bin/sh\n", mode=0o755)
    write(project, "blob.bin", os.urandom(3 << 20))
    os.symlink("train.py", project / "link.py")

    first = sync_up(agent_over_ssh, project, remote_root, protect=["outputs"])
    assert first.files_sent == 4
    assert snapshot(remote) == snapshot(project)
    assert first.remote_root == str(remote)

    noop = sync_up(agent_over_ssh, project, remote_root, protect=["outputs"])
    assert (noop.files_sent, noop.bytes_sent, noop.deleted) == (0, 0, 0)

    write(project, "train.py", "print(2)\n")
    (project / "run.sh").unlink()
    changed = sync_up(agent_over_ssh, project, remote_root, protect=["outputs"])
    assert (changed.files_sent, changed.bytes_sent, changed.deleted) == (1, len("print(2)\n"), 1)
    assert snapshot(remote) == snapshot(project)

    made_by_job = remote / "outputs" / "result.txt"
    made_by_job.parent.mkdir()
    made_by_job.write_text("done\n")
    pulled = pull_outputs(agent_over_ssh, remote_root, ["outputs"], project)
    assert (pulled.files, (project / "outputs" / "result.txt").read_text()) == (1, "done\n")
