"""Host-key verification: known_hosts under `strict` or `accept-new`, or a fingerprint the provider knows."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import HostKeyError
from .known_hosts import read_known_hosts

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
    """Raise HostKeyError unless the key is trusted; under accept-new, remember a first-seen key. A key a
    matching `@revoked` line names is refused under every policy."""
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
    entries = [entry for entry in read_known_hosts(known_hosts, host=name) if entry.matches(name)]
    offered = key.asbytes()
    for entry in entries:
        if entry.revoked and entry.blob == offered:
            raise HostKeyError(
                f"the server offers a REVOKED {key.get_name()} key ({seen}): {known_hosts}:{entry.line} revokes it",
                host=name,
                hint="do not connect; whoever revoked the key knows why. Ask them for the host's new key",
            )
    trusted = [entry for entry in entries if not entry.revoked]
    same_type = [entry for entry in trusted if entry.key_type == key.get_name()]
    if same_type:
        if any(entry.blob == offered for entry in same_type):
            return
        raise HostKeyError(
            f"REMOTE HOST KEY CHANGED: {known_hosts} holds another {key.get_name()} key; the server offers {seen}",
            host=name,
            hint=(
                "if the host was reinstalled on purpose, remove the old key with "
                f"`ssh-keygen -R '{name}' -f {known_hosts}` and connect again; otherwise do not continue"
            ),
        )
    if trusted and policy == "strict":
        raise HostKeyError(
            f"the server offers a {key.get_name()} key ({seen}) but {known_hosts} only knows "
            f"{', '.join(sorted({entry.key_type for entry in trusted}))} keys for it",
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
    line = f"{name} {key.get_name()} {key.get_base64()}\n"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as handle:
            handle.write(line)
    except OSError as exc:
        raise HostKeyError(
            f"cannot record the new host key in {path}: {exc.strerror or exc}",
            host=name,
            hint="make the known hosts file writable, or point provisioner.knownHostsFile at one that is",
        ) from None
