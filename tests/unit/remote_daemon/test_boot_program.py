"""boot.py ships alone inside user-data: it must stand alone, and agree with the rest of wb."""

from __future__ import annotations

import ast
import base64
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from weatherballoon.lambdas import schema
from weatherballoon.remote import boot

from tests.support import sshd

BOOT = Path(boot.__file__)
STDLIB_AND_BOTO = set(sys.stdlib_module_names) | {"boto3", "botocore", "__future__"}


def test_imports_only_the_stdlib_and_boto3() -> None:
    tree = ast.parse(BOOT.read_text(), feature_version=(3, 8))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "boot.py runs as a lone file: no relative imports"
            imported.add((node.module or "").split(".")[0])
    assert imported <= STDLIB_AND_BOTO, imported - STDLIB_AND_BOTO


def test_runs_as_a_lone_file_copied_anywhere(tmp_path: Path) -> None:
    lone = tmp_path / "boot.py"
    lone.write_text(BOOT.read_text())
    env = {"PATH": os.environ["PATH"], "WB_INSTANCE_ID": "i-1", "WB_REGION": "us-east-1", "WB_ACCOUNT": "1"}
    result = subprocess.run([sys.executable, "-I", str(lone)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith("wb-boot: ") and "owner" in result.stderr  # got as far as the owner tag


@pytest.mark.parametrize(
    ("region", "account", "instance", "owner"),
    [("us-west-2", "123456789012", "i-0abc", "AIDAX"), ("cn-north-1", "000000000001", "i-9", "AROA:x@y")],
)
def test_key_builders_equal_the_schemas(region: str, account: str, instance: str, owner: str) -> None:
    partition = boot.partition_of(region)
    arn = boot.instance_arn(region, account, instance, partition)
    assert arn == schema.instance_arn(region, account, instance, partition)
    assert boot.instance_pk(owner, arn) == schema.instance_pk(owner, arn)


def test_owner_with_a_separator_is_refused_like_the_schema_does() -> None:
    with pytest.raises(boot.BootError):
        boot.instance_pk("a#b", schema.instance_arn("us-west-2", "1", "i-1"))
    with pytest.raises(ValueError):
        schema.instance_pk("a#b", schema.instance_arn("us-west-2", "1", "i-1"))


def test_fingerprint_equals_the_clients_and_ssh_keygens(tmp_path: Path) -> None:
    from paramiko import Ed25519Key
    from weatherballoon.cli.session.hostkeys import fingerprint as client_fingerprint

    private = sshd.keygen(tmp_path / "host")
    line = (tmp_path / "host.pub").read_text()
    shown = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(private)], capture_output=True, text=True)
    assert boot.fingerprint(line) == client_fingerprint(Ed25519Key(filename=str(private))) == shown.stdout.split()[1]
    assert boot.fingerprint(line).startswith("SHA256:") and not boot.fingerprint(line).endswith("=")


def test_fingerprint_refuses_a_line_without_a_key() -> None:
    with pytest.raises(boot.BootError):
        boot.fingerprint("ssh-ed25519")
    assert boot.fingerprint("ssh-ed25519 " + base64.b64encode(b"blob").decode()).startswith("SHA256:")


def test_markers() -> None:
    text = "#!/bin/bash\n# wb:authorized-key ssh-ed25519 AAAA c\n# wb:user ubuntu\n# wb:lease-minutes 0.5\n#wb:no x\n"
    assert boot.markers(text) == {
        "WB_AUTHORIZED_KEY": "ssh-ed25519 AAAA c", "WB_USER": "ubuntu", "WB_LEASE_MINUTES": "0.5",
    }  # fmt: skip


def test_environment_wins_over_markers_and_identity_needs_no_imds(tmp_path: Path) -> None:
    user_data = tmp_path / "ud"
    user_data.write_text("# wb:table from-marker\n# wb:bucket b\n")
    run = boot.Boot({"WB_USER_DATA": str(user_data), "WB_TABLE": "from-env", "WB_INSTANCE_ID": "i-1",
                     "WB_REGION": "eu-west-1", "WB_ACCOUNT": "12"})  # fmt: skip
    assert run.imds is None
    assert (run.settings["WB_TABLE"], run.settings["WB_BUCKET"]) == ("from-env", "b")
    assert run.identity() == ("i-1", "eu-west-1", "12")
    values = run.agent_env("i-1", "eu-west-1", "12", "AIDAX")
    assert values["WB_ROW_PK"] == schema.instance_pk("AIDAX", schema.instance_arn("eu-west-1", "12", "i-1"))
    assert values["WB_S3_PREFIX"] == "AIDAX/" + schema.instance_arn("eu-west-1", "12", "i-1") + "/"


def test_agent_env_extra_lines_win(tmp_path: Path) -> None:
    run = boot.Boot({"WB_TABLE": "t", "WB_LEASE_MINUTES": "5", "WB_INSTANCE_ID": "i-1", "WB_REGION": "r",
                     "WB_ACCOUNT": "1", "WB_AGENT_ENV_EXTRA": "WB_LEASE_MINUTES=0.1\n# note\nX=a=b\n"})  # fmt: skip
    values = run.agent_env("i-1", "r", "1", "o")
    assert (values["WB_LEASE_MINUTES"], values["X"]) == ("0.1", "a=b")


def test_write_private_is_atomic_and_0600(tmp_path: Path) -> None:
    target = tmp_path / "home" / ".weatherballoon" / "agent.env"
    boot.write_private(str(target), "A=1\n", None)
    boot.write_private(str(target), "A=2\n", None)
    assert target.read_text() == "A=2\n"
    assert oct(target.stat().st_mode & 0o777) == "0o600" and oct(target.parent.stat().st_mode & 0o777) == "0o700"
    assert [p.name for p in target.parent.iterdir()] == ["agent.env"]


@pytest.mark.parametrize("packed", [True, False], ids=["gzip", "plain"])
def test_markers_come_from_the_user_data_imds_serves_gzip_or_plain(packed: bool) -> None:
    """wb sends user-data gzip-compressed; IMDS hands back exactly those bytes (cloud-init unpacks its copy)."""
    from weatherballoon.cli.providers.aws import userdata

    script = "#!/bin/bash\n# wb:table from-imds\n# wb:lease-minutes 0.5\necho hi\n"
    body = userdata.pack(script) if packed else script.encode()

    class Imds(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_PUT(self) -> None:
            self._answer(b"token")

        def do_GET(self) -> None:
            assert self.headers["X-aws-ec2-metadata-token"] == "token"
            self._answer(body if self.path == "/latest/user-data" else b"")

        def _answer(self, data: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Imds)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        run = boot.Boot({}, boot.Imds(f"http://127.0.0.1:{server.server_address[1]}"))
        assert (run.settings["WB_TABLE"], run.settings["WB_LEASE_MINUTES"]) == ("from-imds", "0.5")
    finally:
        server.shutdown()
        server.server_close()
