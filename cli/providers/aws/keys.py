"""SSH client keys for aws instances: a fresh ed25519 pair per launch, or the seed's EC2 key pair.

An ephemeral private key lives at `<data dir>/keys/<instance-id>` (0600, folder 0700) and is deleted when
its instance is seen gone; its public half travels in the instance's user-data. With `provisioner.keyPair`
the key is `~/.ssh/<keyPair>` (or `.pem`), or `provisioner.identityFile` when that is set.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from ...errors import AuthError, ConfigError
from ...paths import private_dir

COMMENT = "weatherballoon-ephemeral"


@dataclass(frozen=True)
class KeyPair:
    private_openssh: bytes
    public_line: str  # "ssh-ed25519 AAAA... comment"


def generate() -> KeyPair:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return KeyPair(private_openssh=private, public_line=f"{public.decode()} {COMMENT}")


def key_dir() -> Path:
    return private_dir("keys")


def ephemeral_path(instance_id: str) -> Path:
    if not instance_id or "/" in instance_id or instance_id.startswith("."):
        raise ValueError(f"not an instance id: {instance_id!r}")
    return key_dir() / instance_id


def save(instance_id: str, pair: KeyPair) -> Path:
    """Write the private key 0600, atomically: never a moment with looser bits or half a key."""
    path = ephemeral_path(instance_id)
    tmp = path.with_name(f".{instance_id}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, pair.private_openssh)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def forget(instance_id: str) -> None:
    with contextlib.suppress(FileNotFoundError, ValueError):
        ephemeral_path(instance_id).unlink()


def known_ephemeral() -> set[str]:
    return {path.name for path in key_dir().iterdir() if path.name.startswith("i-")}


def seed_key_path(key_pair: str, identity_file: str | None, config_path: str | None) -> Path:
    """The private key of the seed's EC2 key pair."""
    if identity_file:
        return Path(identity_file).expanduser()
    base = Path("~/.ssh").expanduser() / key_pair
    for candidate in (base, base.with_name(base.name + ".pem")):
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no private key for the EC2 key pair {key_pair!r} at {base} (or {base}.pem)",
        path=config_path,
        key="provisioner.keyPair",
        hint="put the key there (mode 0600), set provisioner.identityFile, or remove keyPair for ephemeral keys",
    )


def identity_for(instance_id: str, key_pair: str | None, identity_file: str | None, config_path: str | None) -> Path:
    """The private key that opens this instance, or an AuthError that says why there is none here."""
    if key_pair:
        return seed_key_path(key_pair, identity_file, config_path)
    path = ephemeral_path(instance_id)
    if not path.is_file():
        raise AuthError(
            f"this machine has no key for {instance_id}: it was launched elsewhere, or its key was removed",
            hint="run from where it was launched, use provisioner.keyPair for a shared key, or end it: "
            f"wb down {instance_id}",
        )
    return path
