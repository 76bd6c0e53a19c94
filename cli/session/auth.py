"""Which private keys to offer: `identityFile`, then ssh-agent, then the default keys (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AuthError

if TYPE_CHECKING:
    from paramiko import PKey

DEFAULT_KEYS = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")


def load_key_file(path: Path) -> PKey:
    from .lazy_paramiko import paramiko

    pm = paramiko()
    try:
        key: PKey = pm.PKey.from_path(str(path))
        return key
    except pm.PasswordRequiredException as exc:
        raise AuthError(
            f"the key {path} is protected by a passphrase",
            hint=f"load it into ssh-agent (ssh-add {path}) and run again",
        ) from exc
    except (OSError, pm.SSHException, ValueError) as exc:
        raise AuthError(
            f"cannot read the private key {path}: {exc}",
            hint="check provisioner.identityFile; it must be an OpenSSH or PEM private key",
        ) from exc


def candidate_keys(identity_file: str | None) -> Iterator[tuple[str, PKey]]:
    """Yield (label, key) in the order they should be offered."""
    from .lazy_paramiko import paramiko

    if identity_file:
        path = Path(identity_file).expanduser()
        if not path.is_file():
            raise AuthError(
                f"provisioner.identityFile {path} does not exist",
                hint="fix the path in .weatherballoon.json, or remove the key to use ssh-agent",
            )
        yield str(path), load_key_file(path)
        return
    try:
        agent_keys = paramiko().Agent().get_keys()
    except Exception:  # an unreachable or broken agent is the same as no agent
        agent_keys = ()
    for key in agent_keys:
        yield f"ssh-agent {key.get_name()}", key
    for default in DEFAULT_KEYS:
        path = Path(default).expanduser()
        if path.is_file():
            try:
                yield str(path), load_key_file(path)
            except AuthError:
                continue
