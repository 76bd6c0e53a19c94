"""The ssh provider reads ~/.ssh/config as OpenSSH does (issue 11 item 5): a host alias brings its HostName,
User, Port and IdentityFile, and ProxyJump reaches a host only the jump host can reach.

Two real sshds: the jump host listens on a network namespace's far address (reachable from here); the target
listens on 127.0.0.1 *inside* that namespace, so from here its address is our own loopback, where nothing
listens: only a connection made by the jump host gets there.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.netns import NetNamespace, network_namespace_or_skip
from tests.support.project import Project, make_project
from tests.support.sshd import SshdHost, TestUser


@pytest.fixture
def ns() -> Iterator[NetNamespace]:
    with network_namespace_or_skip() as namespace:
        yield namespace


@pytest.fixture
def jump_and_target(
    tmp_path: Path, ns: NetNamespace, ssh_user: TestUser, ssh_identity: Path
) -> Iterator[tuple[SshdHost, SshdHost]]:
    jump = SshdHost(tmp_path / "jump", ssh_user, ssh_identity, address=ns.address, netns=ns.name).start()
    target = SshdHost(tmp_path / "target", ssh_user, ssh_identity, address="127.0.0.1", netns=ns.name).start()
    yield jump, target
    target.stop()
    jump.stop()


def home_with_ssh_config(tmp_path: Path, text: str) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(text)
    return home


def project_for(tmp_path: Path, hosts: list[str], known_hosts: Path, home: Path) -> Project:
    project = make_project(tmp_path, None)
    project.extra_env["HOME"] = str(home)
    config = {"provisioner": {"kind": "ssh", "hosts": hosts, "knownHostsFile": str(known_hosts)}}
    (project.root / ".weatherballoon.json").write_text(json.dumps(config))
    return project


def refused_here(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_proxy_jump_reaches_a_host_only_the_jump_host_can_reach(
    tmp_path: Path, jump_and_target: tuple[SshdHost, SshdHost], ssh_identity: Path
) -> None:
    jump, target = jump_and_target
    assert refused_here("127.0.0.1", target.port)  # not reachable directly from here
    home = home_with_ssh_config(
        tmp_path,
        f"Host jumpbox\n  HostName {jump.address}\n  Port {jump.port}\n  User {jump.user.name}\n"
        f"  IdentityFile {ssh_identity}\n\n"
        f"Host gpu\n  HostName 127.0.0.1\n  Port {target.port}\n  User {target.user.name}\n"
        f"  IdentityFile {ssh_identity}\n  ProxyJump jumpbox\n",
    )
    known = tmp_path / "known_hosts"
    known.write_text(jump.known_hosts.read_text() + target.known_hosts.read_text())
    project = project_for(tmp_path, ["gpu"], known, home)

    shell = project.wb("ssh", "gpu", "--", "echo $SSH_CONNECTION", timeout=60)
    assert shell.returncode == 0, shell.stderr.decode()
    server_address, server_port = shell.stdout.split()[2:4]
    assert (server_address, int(server_port)) == (b"127.0.0.1", target.port)

    (project.root / "hello.txt").write_text("through the jump\n")
    run = project.wb("run", "--", "cat", "hello.txt", timeout=120)
    assert run.returncode == 0, run.stderr.decode()
    assert run.stdout == b"through the jump\n"


def test_an_alias_brings_hostname_user_port_and_identity_file(
    tmp_path: Path, sshd_host: SshdHost, ssh_identity: Path
) -> None:
    home = home_with_ssh_config(
        tmp_path,
        f"Host box\n  HostName {sshd_host.address}\n  Port {sshd_host.port}\n  User {sshd_host.user.name}\n"
        f"  IdentityFile {ssh_identity}\n",
    )
    project = project_for(tmp_path, ["box"], sshd_host.known_hosts, home)
    project.extra_env["SSH_AUTH_SOCK"] = ""  # only the alias's IdentityFile can open the host
    result = project.wb("ssh", "box", "--", "whoami", timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == sshd_host.user.name


def test_a_jump_host_that_cannot_reach_the_target_is_named(
    tmp_path: Path, jump_and_target: tuple[SshdHost, SshdHost], ssh_identity: Path
) -> None:
    jump, target = jump_and_target
    home = home_with_ssh_config(
        tmp_path,
        f"Host jumpbox\n  HostName {jump.address}\n  Port {jump.port}\n  User {jump.user.name}\n"
        f"  IdentityFile {ssh_identity}\n\n"
        f"Host gpu\n  HostName 127.0.0.1\n  Port {target.port + 1}\n  User {target.user.name}\n"
        f"  IdentityFile {ssh_identity}\n  ProxyJump jumpbox\n",
    )
    known = tmp_path / "known_hosts"
    known.write_text(jump.known_hosts.read_text() + target.known_hosts.read_text())
    project = project_for(tmp_path, ["gpu"], known, home)
    result = project.wb("ssh", "gpu", "--", "true", timeout=60)
    assert result.returncode == 255
    message = result.stderr.decode()
    assert (
        f"the jump host {jump.user.name}@{jump.address}:{jump.port} could not connect to 127.0.0.1:{target.port + 1}"
        in message
    ), message


def test_an_unparsable_ssh_config_is_a_config_error(tmp_path: Path, sshd_host: SshdHost) -> None:
    home = home_with_ssh_config(tmp_path, "Host box\n  Port twenty-two\n")
    project = project_for(tmp_path, ["box"], sshd_host.known_hosts, home)
    result = project.wb("ssh", "box", "--", "true", timeout=30)
    assert result.returncode == 2
    assert "Port 'twenty-two'" in result.stderr.decode()
