"""After installing the agent on an aws instance the provider points `~/.weatherballoon/agent/current` at it
and runs `agent daemon --ensure`. A real sshd stands in for the instance (never a moto address): it is
reached with its registered fingerprint and the instance's ephemeral key, exactly as an EC2 host would be."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from weatherballoon.cli.config.loader import load_config
from weatherballoon.cli.errors import ConnectError, HostKeyError
from weatherballoon.cli.providers.aws import AwsProvider, keys
from weatherballoon.cli.providers.records import Instance, SshTarget
from weatherballoon.remote.boot import fingerprint

from tests.support.sshd import SshdHost

SYSTEM_PYTHON = "/usr/bin/python3"


class OnThisHost(AwsProvider):
    # The test host has no /opt/wb/venv (user-data makes it on EC2); its system python runs the agent.
    agent_python = SYSTEM_PYTHON
    daemon_python = SYSTEM_PYTHON


@pytest.fixture
def host_instance(sshd_host: SshdHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Instance:
    monkeypatch.setenv("WB_DATA_DIR", str(tmp_path / "data"))
    shutil.copy(sshd_host.identity, keys.ephemeral_path("i-0sshd"))
    registered = fingerprint(Path(f"{sshd_host.host_key}.pub").read_text())
    target = SshTarget(host=sshd_host.address, port=sshd_host.port, username=sshd_host.user.name,
                       host_key_fingerprint=registered)  # fmt: skip
    return Instance(id="i-0sshd", provider="aws", target=target, state="busy")


def provider(tmp_path: Path) -> OnThisHost:
    (tmp_path / ".weatherballoon.json").write_text(json.dumps({"provisioner": {"kind": "aws"}}))
    loaded = load_config(cwd=tmp_path)
    return OnThisHost(loaded.config, loaded)


@pytest.mark.skipif(not Path(SYSTEM_PYTHON).exists(), reason="needs a system python3 the test user can run")
def test_install_points_current_at_the_agent_and_asks_for_the_daemon(
    host_instance: Instance, sshd_host: SshdHost, tmp_path: Path
) -> None:
    aws = provider(tmp_path)
    try:
        with pytest.raises(ConnectError, match=r"supervision daemon did not start \(exit 2\)") as caught:
            aws.agent(host_instance)  # no agent.env on this host: boot.py never ran here
        assert "agent.env" in caught.value.message
        agent = aws.connections.agent(host_instance.id, aws.session(host_instance), aws.agent_python)
        current = sshd_host.user.home / ".weatherballoon/agent/current"
        assert current.is_symlink() and current.resolve().name == agent.bundle.name
    finally:
        aws.close()


def test_a_host_whose_key_differs_from_the_registered_one_is_refused(host_instance: Instance, tmp_path: Path) -> None:
    forged = SshTarget(**{**host_instance.target.__dict__, "host_key_fingerprint": "SHA256:" + "A" * 43})
    aws = provider(tmp_path)
    with pytest.raises(HostKeyError, match="host key mismatch: the instance registered SHA256:AAAA"):
        aws.session(Instance(id="i-0sshd", provider="aws", target=forged, state="busy"))
    with pytest.raises(ConnectError, match="i-0sshd has not registered its SSH host key"):
        aws.session(Instance(id="i-0sshd", provider="aws", target=SshTarget(host="127.0.0.1"), state="launching"))
    with pytest.raises(ConnectError, match="i-0sshd is terminated"):
        aws.session(Instance(id="i-0sshd", provider="aws", target=host_instance.target, state="terminated"))
