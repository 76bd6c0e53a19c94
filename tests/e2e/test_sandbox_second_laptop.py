"""A second laptop (another data folder, the same owner) through `wb sandbox` (issue 11 items 3 and 4).

A job started detached on laptop one is listed on laptop two (`wb jobs`, from the supervision table),
followed to its exit code (`wb logs -f`), its outputs pulled (`wb pull`), and the warm machine reused by
laptop two's `wb run`. Plain OpenSSH reaches the machine through `wb ssh-config` and `wb proxy`, with the
host key the instance registered pinned. An admin's `wb jobs --all` lists the owner's job with its owner.

Until EC2 Instance Connect keys push a key per connection, laptop two logs in with what the team shares:
the seed's EC2 key pair (`provisioner.keyPair` + `identityFile`); the ephemeral key of a launch stays on the
laptop that launched.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from weatherballoon.lambdas.records import InstanceState

from tests.e2e.sandbox_support import Client, Lab, sandbox_up, up_args
from tests.integration.sandbox.conftest import sandbox_unavailable

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(500)]

REAPER_PERIOD_S = 2.0
LEASE_MINUTES = 0.2
IDLE_MINUTES = 1.25


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    why = sandbox_unavailable()
    if why:
        pytest.skip(f"sandbox: {why}")
    root, cwd = tmp_path_factory.mktemp("sandbox-laptops"), tmp_path_factory.mktemp("cwd-laptops")
    with sandbox_up(root, cwd, up_args(REAPER_PERIOD_S, LEASE_MINUTES, IDLE_MINUTES)) as box:
        found = Lab(box, tmp_path_factory.mktemp("projects-laptops"), reaper_period_s=REAPER_PERIOD_S,
                    lease_minutes=LEASE_MINUTES, idle_minutes=IDLE_MINUTES)  # fmt: skip
        try:
            yield found
        finally:
            found.close()


def team_key(lab: Lab, folder: Path) -> tuple[str, Path]:
    """An EC2 key pair imported into the sandbox account, and its private key (what both laptops share)."""
    path = folder / "team_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "wb-team", "-f", str(path)], check=True)
    name = f"wb-team-{secrets.token_hex(3)}"
    lab.ec2.import_key_pair(KeyName=name, PublicKeyMaterial=path.with_suffix(".pub").read_bytes())
    return name, path


def configure(client: Client, key_pair: str, identity: Path) -> None:
    config = {"provisioner": {"keyPair": key_pair, "identityFile": str(identity)}, "sync": {"outputs": ["out/*"]}}
    (client.project / ".weatherballoon.json").write_text(json.dumps(config))


def test_a_second_laptop_lists_follows_pulls_and_reuses(lab: Lab, tmp_path: Path) -> None:
    owner = lab.owner("two-laptops")
    key_pair, identity = team_key(lab, tmp_path)
    one, two = lab.client("laptop-one", owner=owner), lab.client("laptop-two", owner=owner)
    for laptop in (one, two):
        configure(laptop, key_pair, identity)
    assert one.data_dir != two.data_dir

    script = "echo started; sleep 4; mkdir -p out; echo made on laptop one > out/result.txt; echo finished; exit 7"
    started = one.wb("run", "-d", "--", "sh", "-c", script).check()
    job_id = started.stdout.strip()
    instance_id = started.instance()

    listed = two.wb("jobs").check()
    assert re.search(rf"^{re.escape(job_id)}\s+{instance_id}\s", listed.stdout, re.MULTILINE), listed.stdout

    followed = two.wb("logs", "-f", job_id[:12], timeout=120)
    assert followed.returncode == 7, followed.stderr
    assert followed.stdout == "started\nfinished\n"

    pulled = two.wb("pull", job_id).check()
    assert (two.project / "out" / "result.txt").read_text() == "made on laptop one\n", pulled.stderr

    admin = Client(lab, lab.admin, two.project, tmp_path / "admin-data")
    team = admin.wb("jobs", "--all").check()
    assert re.search(rf"^{re.escape(job_id)}\s+{owner.user_id}\s+{instance_id}\s", team.stdout, re.MULTILINE), (
        team.stdout
    )

    # OpenSSH, through wb proxy, with the host key the instance registered
    config = tmp_path / "ssh_config"
    config.write_text(two.wb("ssh-config").check().stdout)
    assert f"Host {instance_id}\n" in config.read_text()
    ssh = ["ssh", "-F", str(config), "-o", "BatchMode=yes", instance_id, "echo", "plain ssh"]
    plain = subprocess.run(ssh, env=two.env(), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == "plain ssh\n"

    two.wait_row(instance_id, lambda row: row.state is InstanceState.IDLE, 30, "idle after the job")
    again = two.wb("run", "--", "echo", "reused from laptop two").check()
    assert again.reused() == instance_id, again.stderr
    assert again.stdout == "reused from laptop two\n"


def test_an_unknown_job_and_no_machine_are_named(lab: Lab) -> None:
    client = lab.client("nobody-home")
    missing = client.wb("logs", "20990101-000000-abcdef")
    assert missing.returncode == 1
    assert "no job '20990101-000000-abcdef'" in missing.stderr and "supervision table" in missing.stderr
    nothing = client.wb("ssh-config")
    assert nothing.returncode == 2
    assert "no machine of yours is up" in nothing.stderr
    unknown = client.wb("proxy", "i-0123456789abcdef0")
    assert unknown.returncode == 2
    assert "no wb instance 'i-0123456789abcdef0'" in unknown.stderr
