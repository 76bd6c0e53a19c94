"""A connection with a key that lives for a minute, through the endpoint's tunnel, as the aws provider makes it
in `eice` mode: SendSSHPublicKey to the sandbox's moto server (which hands the key to the host), the host's
sshd taking pushed keys with AuthorizedKeysCommand for 60 s, the tunnel over TLS (`wss://`) to the sandbox's
endpoint, whose address comes from DescribeInstanceConnectEndpoints."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from weatherballoon.cli.errors import AuthError
from weatherballoon.cli.providers.records import SshTarget
from weatherballoon.cli.session.connection import ConnectOptions, SshSession
from weatherballoon.cli.session.instance_connect import InstanceConnect
from weatherballoon.cli.session.lazy_paramiko import paramiko
from weatherballoon.cli.session.tunnel import TunnelEndpoint
from weatherballoon.sandbox.eice.endpoint import SandboxEndpoint
from weatherballoon.sandbox.eice.tls import make_certificate, server_context
from weatherballoon.sandbox.launchers import moto
from weatherballoon.sandbox.launchers import sshd as launcher

from tests.support import moto_server
from tests.support.sshd import TestUser

INSTANCE = "i-0123456789abcdef0"
ENDPOINT_ID = "eice-0123456789abcdef0"
REGION = "us-west-2"


@dataclass
class World:
    pushed: Path
    endpoint: SandboxEndpoint
    user: TestUser
    sshd_port: int
    fingerprint: str
    cert: Path

    def reach(self, **changes: object) -> InstanceConnect:
        ec2 = boto3.client("ec2", region_name=REGION)
        dns = ec2.describe_instance_connect_endpoints(InstanceConnectEndpointIds=[ENDPOINT_ID])
        found = dns["InstanceConnectEndpoints"][0]["DnsName"]
        fields: dict[str, object] = {
            "instance_id": INSTANCE,
            "os_user": self.user.name,
            "private_ip": "127.0.0.1",
            "tunnel": TunnelEndpoint.of(ENDPOINT_ID, REGION, found),
            "client": lambda: boto3.client("ec2-instance-connect", region_name=REGION),
            "credentials": lambda: boto3.Session().get_credentials().get_frozen_credentials(),
        }
        fields.update(changes)
        return InstanceConnect(**fields)  # type: ignore[arg-type]

    def target(self) -> SshTarget:
        return SshTarget(host="127.0.0.1", port=22, username=self.user.name, host_key_fingerprint=self.fingerprint)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("eic")
    pushed, endpoints = root / "pushed", root / "endpoints.json"
    port = moto_server.free_port()
    proc = moto.start(
        port, timeout=30, env={"WB_SANDBOX_PUSHED_KEYS": str(pushed), "WB_SANDBOX_ENDPOINTS": str(endpoints)}
    )
    env = moto_server.aws_env(moto.url_of(port))
    cert, key = make_certificate(root / "tls")
    env["AWS_CA_BUNDLE"] = str(cert)
    previous = moto_server.apply_env(env)
    user = TestUser.create(root)
    endpoint = SandboxEndpoint(
        ENDPOINT_ID, REGION, {"testing": "testing"}, lambda ip: ip == "127.0.0.1", tls=server_context(cert, key)
    ).start()
    endpoints.write_text(json.dumps([{"id": ENDPOINT_ID, "dns": endpoint.dns_name, "groups": ["sg-0123abcd"]}]))
    sshd_port = moto_server.free_port()
    endpoint.port_map = {22: sshd_port}
    folder = root / "sshd"
    folder.mkdir()
    config = launcher.write_config(
        folder, "127.0.0.1", sshd_port, use_pam=False, extra=launcher.pushed_keys_lines(pushed / INSTANCE)
    )
    log = folder / "sshd.log"
    server = launcher.start(launcher.command(config), log, new_session=True)
    launcher.wait_ready(server, "127.0.0.1", log, port=sshd_port)
    fingerprint = launcher.fingerprint(folder / "ssh_host_ed25519_key.pub")
    try:
        yield World(pushed, endpoint, user, sshd_port, fingerprint, cert)
    finally:
        server.terminate()
        server.wait()
        endpoint.stop()
        user.delete()
        moto.stop(proc, timeout=5)
        for name, value in previous.items():
            if value is None:
                moto_server.os.environ.pop(name, None)
            else:
                moto_server.os.environ[name] = value


def test_a_run_goes_through_the_tunnel_with_a_key_pushed_for_it(world: World, tmp_path: Path) -> None:
    options = ConnectOptions(known_hosts=tmp_path / "unused", instance_connect=world.reach())
    opened_before = world.endpoint.opened
    with SshSession.open(world.target(), options) as session:
        assert session.run("echo through; whoami")[:2] == (0, f"through\n{world.user.name}\n".encode())
        assert session.tunnel is not None
    assert world.endpoint.opened == opened_before + 1
    # The machine got the public half; nothing of the private half was written anywhere wb keeps state.
    pushed = (world.pushed / INSTANCE / world.user.name).read_text()
    assert "ssh-ed25519 " in pushed and "PRIVATE" not in pushed
    assert not list(tmp_path.rglob("*key*"))


def test_each_connection_pushes_a_key_of_its_own(world: World, tmp_path: Path) -> None:
    options = ConnectOptions(known_hosts=tmp_path / "unused", instance_connect=world.reach())
    keys_file = world.pushed / INSTANCE / world.user.name
    before = keys_file.read_text().splitlines() if keys_file.exists() else []
    for _ in range(2):
        with SshSession.open(world.target(), options) as session:
            assert session.run("true")[0] == 0
    added = keys_file.read_text().splitlines()[len(before) :]
    assert len(added) == 2 and added[0].split()[2] != added[1].split()[2]


def test_a_pushed_key_is_refused_after_60_seconds(world: World) -> None:
    from weatherballoon.cli.session.instance_connect import push_key

    key = push_key(world.reach(), "test")
    keys_file = world.pushed / INSTANCE / world.user.name
    lines = keys_file.read_text().splitlines()
    stamp, rest = lines[-1].split(" ", 1)
    keys_file.write_text("\n".join([*lines[:-1], f"{float(stamp) - 61:.3f} {rest}"]) + "\n")  # pushed 61 s ago
    pm = paramiko()
    with socket.create_connection(("127.0.0.1", world.sshd_port)) as sock:
        transport = pm.Transport(sock)
        transport.start_client(timeout=10)
        with pytest.raises(pm.AuthenticationException):
            transport.auth_publickey(world.user.name, key)
        transport.close()


def test_the_host_key_is_still_checked_against_the_row(world: World, tmp_path: Path) -> None:
    from weatherballoon.cli.errors import HostKeyError

    options = ConnectOptions(known_hosts=tmp_path / "unused", instance_connect=world.reach())
    wrong = SshTarget(host="127.0.0.1", port=22, username=world.user.name, host_key_fingerprint="SHA256:" + "A" * 43)
    with pytest.raises(HostKeyError):
        SshSession.open(wrong, options)


def test_a_refused_push_is_an_auth_error_that_says_why(world: World, tmp_path: Path) -> None:
    def refusing_client() -> object:
        return boto3.client("ec2-instance-connect", region_name=REGION, endpoint_url="http://127.0.0.1:9")

    options = ConnectOptions(known_hosts=tmp_path / "unused", instance_connect=world.reach(client=refusing_client))
    with pytest.raises(AuthError, match=f"cannot push a key to {INSTANCE}") as caught:
        SshSession.open(world.target(), options)
    assert caught.value.exit_code == 255


def test_wb_proxys_key_file_is_pushed_and_removed_after(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from weatherballoon.cli.session.pushed_key_file import pushed_key_file

    monkeypatch.setenv("WB_DATA_DIR", str(tmp_path / "data"))
    keys_file = world.pushed / INSTANCE / world.user.name
    with pushed_key_file(world.reach(), "test") as path:
        assert path == tmp_path / "data" / "instance-connect" / INSTANCE
        key = paramiko().Ed25519Key(filename=str(path))
        assert keys_file.read_text().splitlines()[-1].split()[2] == key.get_base64()  # its public half was pushed
        with SshSession.open(world.target(), ConnectOptions(known_hosts=tmp_path / "unused", identity_file=str(path),
                             instance_connect=world.reach(push_key=False))) as session:  # fmt: skip
            assert session.run("true")[0] == 0  # the file's key logs in, as ssh's IdentityFile
    assert not path.exists()


def test_a_refused_push_leaves_no_key_file(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from weatherballoon.cli.session.pushed_key_file import pushed_key_file

    def refusing_client() -> object:
        return boto3.client("ec2-instance-connect", region_name=REGION, endpoint_url="http://127.0.0.1:9")

    monkeypatch.setenv("WB_DATA_DIR", str(tmp_path / "data"))
    refused = pytest.raises(AuthError, match=f"cannot push a key to {INSTANCE}")
    with refused as caught, pushed_key_file(world.reach(client=refusing_client), "test"):
        pass
    assert caught.value.exit_code == 255
    assert list((tmp_path / "data" / "instance-connect").iterdir()) == []


def test_the_command_sshd_runs_lists_only_live_keys(tmp_path: Path) -> None:
    from weatherballoon.sandbox.eice.authorized_keys import live_keys

    text = "100.0 ssh-ed25519 AAAAold\n150.5 ssh-ed25519 AAAAnew\nnot a line\n"
    assert live_keys(text, now=160.0) == ["ssh-ed25519 AAAAold", "ssh-ed25519 AAAAnew"]
    assert live_keys(text, now=161.0) == ["ssh-ed25519 AAAAnew"]
    assert live_keys(text, now=211.0) == []
    (tmp_path / "ubuntu").write_text(text)
    script = Path(launcher.__file__).resolve().parent.parent / "eice" / "authorized_keys.py"
    listed = subprocess.run(
        ["/usr/bin/python3", "-I", str(script), str(tmp_path), "ubuntu"], capture_output=True, text=True, check=True
    )
    assert listed.stdout == ""  # both pushed long ago
