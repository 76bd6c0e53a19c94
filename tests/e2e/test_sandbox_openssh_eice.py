"""Plain OpenSSH through the sandbox's EC2 Instance Connect Endpoint with no keyPair (issue 11 item 4).

`wb ssh-config` names `<data dir>/instance-connect/<id>` as the IdentityFile; `wb proxy` writes a pushed key
there, relays the tunnel, and removes the file when ssh ends it. A second ssh started while the first still
runs finds the file there (ssh has read its public half before `wb proxy` runs), so `wb proxy` pushes that
same key again instead of replacing it, and both log in. A push that fails is exit 255 and leaves no file.
"""

from __future__ import annotations

import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.sandbox_support import Client, Lab, sandbox_up, up_args, wait_for
from tests.integration.sandbox.conftest import sandbox_unavailable
from tests.support.requirements import unavailable

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    why = sandbox_unavailable()
    if why:
        unavailable(f"sandbox: {why}")
    root, cwd = tmp_path_factory.mktemp("sandbox-ssh-eice"), tmp_path_factory.mktemp("cwd-ssh-eice")
    with sandbox_up(root, cwd, up_args(2.0, 0.5, 3.0)) as box:
        found = Lab(box, tmp_path_factory.mktemp("projects-ssh-eice"), reaper_period_s=2.0, lease_minutes=0.5,
                    idle_minutes=3.0)  # fmt: skip
        try:
            yield found
        finally:
            found.close()


def ssh(client: Client, config: Path, host: str, *command: str) -> subprocess.Popen[str]:
    """The real ssh with the saved `wb ssh-config` output, from a folder that is not the project."""
    return subprocess.Popen(["ssh", "-F", str(config), "-o", "BatchMode=yes", host, *command], cwd="/",
                            env=client.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def test_ssh_logs_in_with_a_key_wb_proxy_pushes_and_the_key_file_goes_with_it(lab: Lab, tmp_path: Path) -> None:
    client = lab.client("ssh-eice")
    assert "WB_CONNECT" not in lab.box.exported
    instance_id = client.wb("run", "--", "true", timeout=240).check().instance()

    printed = client.wb("ssh-config").check().stdout
    key_file = client.data_dir / "instance-connect" / instance_id
    assert f"  IdentityFile {key_file}\n  IdentitiesOnly yes\n" in printed, printed
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert not key_file.exists()
    config = tmp_path / "wb-ssh-config"
    config.write_text(printed)

    first = ssh(client, config, instance_id, "echo", "hi")
    out, err = first.communicate(timeout=90)
    assert first.returncode == 0, err
    assert out == "hi\n"
    assert not key_file.exists(), "wb proxy left the key file behind after ssh ended"

    # Two at once: the second ssh starts while the first one's key file is there.
    long = ssh(client, config, instance_id, "sleep 6; echo long")
    try:
        wait_for(lambda: key_file.exists() or None, 60, "the first wb proxy's key file")
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        time.sleep(2)  # the first ssh has logged in
        second = ssh(client, config, instance_id, "echo", "second")
        out, err = second.communicate(timeout=90)
        assert second.returncode == 0, err
        assert out == "second\n"
        out, err = long.communicate(timeout=90)
        assert long.returncode == 0, err
        assert out == "long\n"
    finally:
        if long.poll() is None:
            long.kill()
    assert not key_file.exists()
    assert [p.name for p in key_file.parent.iterdir()] == []  # no temp file either

    # A push that fails (here: the Instance Connect API unreachable; the tunnel still opens) is exit 255 with
    # the reason, and leaves no key file.
    refused = client.wb("proxy", instance_id, env={"AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT": "http://127.0.0.1:9"})
    assert refused.returncode == 255, refused.stderr
    assert f"cannot push a key to {instance_id} with EC2 Instance Connect" in refused.stderr
    assert list(key_file.parent.iterdir()) == []
