"""The per-run key of a gang's own ssh (`wb run --nodes N --gang-ssh`; the machines' side is
remote/jobs/gang_ssh.py).

A fresh ed25519 pair is made here for each run, and never written on this machine. Each other rank's ed25519
host key comes from that rank's own agent (`gang-probe --host-key`), asked over the connection wb has already
verified against the host key it pinned: rank 0's known_hosts trusts exactly what each machine says about
itself through that channel, so mpirun's logins are checked strictly, never trusted on first use.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ..errors import ConnectError
from .gang_env import GangSshKeys

if TYPE_CHECKING:
    from ..session.agent import RemoteAgent


def new_key_pair() -> tuple[str, str]:
    """(private key in OpenSSH format, `ssh-ed25519 BASE64`)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode("ascii")
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public.decode("ascii")


def host_key(agent: RemoteAgent, label: str) -> str:
    """The machine's sshd ed25519 host key, as its agent reads it; ConnectError naming the host without one."""
    status, out, err = agent.run(["gang-probe", "--host-key"])
    try:
        found = json.loads(out.decode("ascii")).get("host_key")
    except (ValueError, AttributeError, UnicodeDecodeError):
        found = None
        if status != 0:
            said = err.decode("utf-8", "replace").strip()
            raise ConnectError(f"could not read the machine's host key (exit {status}): {said}", host=label) from None
    if not isinstance(found, str) or not found.startswith("ssh-ed25519 "):
        raise ConnectError(
            "--gang-ssh needs the machine's ed25519 host key in /etc/ssh/ssh_host_ed25519_key.pub, and it has none",
            host=label,
            hint="make one with `sudo ssh-keygen -A` there, or run without --gang-ssh",
        )
    return found


def gang_ssh_keys(agents: list[RemoteAgent], labels: list[str], addresses: tuple[str, ...]) -> GangSshKeys:
    """A fresh pair, and rank 0's known_hosts with every other rank's host key at its address."""
    others = range(1, len(agents))
    with ThreadPoolExecutor(max_workers=min(16, len(agents))) as pool:
        keys = list(pool.map(lambda rank: host_key(agents[rank], labels[rank]), others))
    private, public = new_key_pair()
    known = "".join(f"{addresses[rank]} {key}\n" for rank, key in zip(others, keys, strict=True))
    return GangSshKeys(private_key=private, public_key=public, known_hosts=known)
