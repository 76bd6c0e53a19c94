"""The login account of the sandbox's hosts: one per sandbox, `wbsbx-<sandbox id>`, a plain user: no group
that sudo honours, so it may run as root exactly what a host's user-data grants it in /etc/sudoers.d.

Every host logs in as this account, as every EC2 instance of one AMI logs in as `ubuntu`; each host sees its
own home directory (a per-host folder mounted over `/home/wbsbx-<id>` inside the host, see `hostfs.py`), so
hosts share nothing. The generated configuration sets `provisioner.os.username` to it, so the aws
provider's `# wb:user` line names it.
"""

from __future__ import annotations

import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import SandboxError
from .system import run, tool

HOME_PARENT = Path("/home")


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: Path


def account_name(sandbox_id: str) -> str:
    return f"wbsbx-{sandbox_id}"


def lookup(name: str) -> Account | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return Account(name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))


def create(name: str) -> Account:
    if lookup(name) is not None:
        raise SandboxError(
            f"an account named {name} already exists on this machine",
            hint="another sandbox owns it (`wb sandbox down` there), or remove it with: userdel " + name,
        )
    HOME_PARENT.mkdir(mode=0o755, exist_ok=True)
    home = HOME_PARENT / name
    run([tool("useradd"), "--create-home", "--home-dir", str(home), "--shell", "/bin/bash", "--user-group", name])
    # useradd leaves the password locked ('!'); '*' is no password either, but not a lock (cloud images do the same).
    run([tool("usermod"), "-p", "*", name])
    home.chmod(0o755)
    found = lookup(name)
    assert found is not None
    return found


def delete(name: str) -> None:
    """Idempotent: the account's processes, the account, its home mount point."""
    found = lookup(name)
    if found is None:
        return
    run([tool("pkill"), "-KILL", "-u", name], check=False)
    run([tool("userdel"), "--force", name], check=False)
    if found.home.parent == HOME_PARENT and found.home.name == name:
        shutil.rmtree(found.home, ignore_errors=True)
