"""Host-key verification: known_hosts under `strict` or `accept-new`, or a fingerprint the provider knows."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import HostKeyError

if TYPE_CHECKING:
    from paramiko import PKey


def fingerprint(key: PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def verify_host_key(
    key: PKey,
    *,
    host: str,
    port: int,
    known_hosts: Path,
    policy: str,
    expected_fingerprint: str | None = None,
) -> None:
    """Raise HostKeyError unless the key is trusted; under accept-new, remember a first-seen key."""
    from .lazy_paramiko import paramiko

    name = known_hosts_name(host, port)
    seen = fingerprint(key)
    if expected_fingerprint is not None:
        if seen != expected_fingerprint:
            raise HostKeyError(
                f"host key mismatch: the instance registered {expected_fingerprint}, the server offers {seen}",
                host=name,
                hint="someone may be intercepting the connection; do not continue. Run `wb down` and relaunch",
            )
        return
    entries = paramiko().HostKeys()
    if known_hosts.exists():
        try:
            entries.load(str(known_hosts))
        except (OSError, ValueError) as exc:
            raise HostKeyError(
                f"cannot read known hosts file {known_hosts}: {exc}",
                host=name,
                hint="fix the file or point provisioner.knownHostsFile at another",
            ) from exc
    known = entries.lookup(name) or {}
    if key.get_name() in known:
        if known[key.get_name()] == key:
            return
        raise HostKeyError(
            f"REMOTE HOST KEY CHANGED: {known_hosts} holds another {key.get_name()} key; the server offers {seen}",
            host=name,
            hint=(
                "if the host was reinstalled on purpose, remove the old key with "
                f"`ssh-keygen -R '{name}' -f {known_hosts}` and connect again; otherwise do not continue"
            ),
        )
    if known and policy == "strict":
        raise HostKeyError(
            f"the server offers a {key.get_name()} key ({seen}) but {known_hosts} only knows "
            f"{', '.join(sorted(known))} keys for it",
            host=name,
            hint=f"check the key, then add it: ssh-keyscan -p {port} {host} >> {known_hosts}",
        )
    if policy == "accept-new":
        _append_known_host(known_hosts, name, key)
        return
    raise HostKeyError(
        f"host key not known ({key.get_name()} {seen}) and provisioner.hostKeyPolicy is strict",
        host=name,
        hint=(
            f"verify the fingerprint, then add it: ssh-keyscan -p {port} {host} >> {known_hosts}; "
            'or set "hostKeyPolicy": "accept-new" to trust a first-seen key'
        ),
    )


def _append_known_host(path: Path, name: str, key: PKey) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = f"{name} {key.get_name()} {key.get_base64()}\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as handle:
        handle.write(line)
