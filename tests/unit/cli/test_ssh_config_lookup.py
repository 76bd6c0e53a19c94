"""provisioner.hosts entries read through ~/.ssh/config (paramiko's SSHConfig), as ssh reads a host name."""

from __future__ import annotations

from pathlib import Path

import pytest
from weatherballoon.cli.errors import ConfigError
from weatherballoon.cli.providers.ssh import parse_host
from weatherballoon.cli.session.streams import jump_hops


@pytest.fixture
def ssh_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    key = tmp_path / ".ssh" / "gpu_key"
    key.write_text("not read here\n")
    config = tmp_path / ".ssh" / "config"
    config.write_text(
        "Host gpu\n  HostName 10.1.2.3\n  User alice\n  Port 2222\n  IdentityFile ~/.ssh/missing\n"
        "  IdentityFile ~/.ssh/gpu_key\n  ProxyJump bastion\n\n"
        "Host bastion\n  HostName bastion.example.org\n  User jump\n\n"
        "Host loop\n  ProxyJump loop\n\n"
        "Host *\n  User fallback\n"
    )
    return config


def test_an_alias_brings_its_settings(ssh_config: Path) -> None:
    target = parse_host("gpu", "ubuntu")
    assert (target.host, target.port, target.username) == ("10.1.2.3", 2222, "alice")
    assert target.alias == "gpu" and target.ssh_name == "gpu"
    assert target.identity_file == str(ssh_config.parent / "gpu_key")  # the first IdentityFile that exists
    assert target.proxy_jump == "bastion"


def test_the_entrys_own_user_and_port_win(ssh_config: Path) -> None:
    target = parse_host("bob@gpu:22", "ubuntu")
    assert (target.host, target.port, target.username) == ("10.1.2.3", 22, "bob")


def test_a_catch_all_user_applies_as_in_ssh(ssh_config: Path) -> None:
    target = parse_host("198.51.100.7", "ubuntu")
    assert (target.host, target.username, target.alias, target.proxy_jump) == ("198.51.100.7", "fallback", None, None)


def test_jump_hops_are_looked_up_too(ssh_config: Path) -> None:
    [hop] = jump_hops("bastion", "ubuntu")
    assert (hop.host, hop.port, hop.username) == ("bastion.example.org", 22, "jump")
    first, second = jump_hops("ops@one:2200,bastion", "ubuntu")
    assert (first.host, first.port, first.username) == ("one", 2200, "ops")
    assert second.host == "bastion.example.org"


def test_a_proxyjump_loop_is_refused(ssh_config: Path) -> None:
    with pytest.raises(ConfigError, match="more than 8 hops deep"):
        jump_hops("loop", "ubuntu")


def test_no_config_file_means_the_name_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    target = parse_host("gpu", "ubuntu")
    assert (target.host, target.port, target.username, target.alias) == ("gpu", 22, "ubuntu", None)
