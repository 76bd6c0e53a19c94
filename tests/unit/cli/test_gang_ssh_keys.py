"""The client's side of `--gang-ssh` (cli/jobs/gang_ssh_keys.py, gang_env.py): a fresh ed25519 pair per run
that OpenSSH itself accepts, the private half only in rank 0's environment, the public half and rank 0's
address in the others', and neither in a layout's repr."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from weatherballoon.cli.jobs.gang_env import GangLayout, GangSshKeys, rank_env
from weatherballoon.cli.jobs.gang_ssh_keys import new_key_pair

from tests.support.requirements import unavailable


def test_each_run_gets_a_new_pair_that_ssh_keygen_reads_back(tmp_path: Path) -> None:
    private, public = new_key_pair()
    assert new_key_pair()[1] != public
    assert public.startswith("ssh-ed25519 ") and len(public.split()) == 2
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        unavailable("ssh-keygen (openssh-client)")
    path = tmp_path / "id"
    path.write_text(private)
    path.chmod(0o600)
    derived = subprocess.run([keygen, "-y", "-f", str(path)], capture_output=True, text=True, check=True)
    assert derived.stdout.split()[:2] == public.split()


def test_the_private_half_goes_to_rank_0_only_and_never_shows_in_a_repr() -> None:
    keys = GangSshKeys(private_key="PRIVATE", public_key="ssh-ed25519 PUB", known_hosts="10.0.0.2 ssh-ed25519 H\n")
    layout = GangLayout(("10.0.0.1", "10.0.0.2", "10.0.0.3"), 29500, 29501, 0, "TOKEN", keys)
    rank0, rank2 = dict(rank_env(layout, 0)), dict(rank_env(layout, 2))
    assert rank0["WB_GANG_SSH_KEY"] == "PRIVATE" and rank0["WB_GANG_SSH_KNOWN_HOSTS"] == keys.known_hosts
    assert "WB_GANG_SSH_PUB" not in rank0
    assert (rank2["WB_GANG_SSH_PUB"], rank2["WB_GANG_SSH_FROM"]) == ("ssh-ed25519 PUB", "10.0.0.1")
    assert "WB_GANG_SSH_KEY" not in rank2 and "WB_GANG_SSH_KNOWN_HOSTS" not in rank2
    assert "PRIVATE" not in repr(layout) and "TOKEN" not in repr(layout)
    plain = GangLayout(("10.0.0.1", "10.0.0.2"), 29500, 29501, 0, "TOKEN")
    assert not [key for key, _ in rank_env(plain, 1) if key.startswith("WB_GANG_SSH")]
