"""Host keys pinned for OpenSSH (`wb ssh-config`): each machine's key, read from its SSH handshake and
trusted exactly when wb itself would trust it (the fingerprint the instance registered in the table, or
known_hosts under the configured policy), written under the `Host` name into a known_hosts file of wb's own
(`<data dir>/ssh_known_hosts`). ssh then checks the key with `StrictHostKeyChecking yes`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConnectError
from ..paths import data_dir
from .hostkeys import verify_host_key

if TYPE_CHECKING:
    from paramiko import PKey

    from ..providers.records import SshTarget
    from .connection import ConnectOptions
    from .streams import Stream

FILE_NAME = "ssh_known_hosts"


def pins_path() -> Path:
    return data_dir() / FILE_NAME


def scan(stream: Stream, target: SshTarget, options: ConnectOptions) -> PKey:
    """The host key the machine offers on `stream`, verified; HostKeyError (or ConnectError) otherwise.
    The stream is closed after: only the key exchange runs, no login."""
    from .lazy_paramiko import paramiko

    pm = paramiko()
    transport = pm.Transport(stream.sock)
    try:
        transport.start_client(timeout=options.connect_timeout_s)
        key = transport.get_remote_server_key()
    except (pm.SSHException, EOFError, OSError) as exc:
        raise ConnectError(f"SSH handshake failed: {exc or type(exc).__name__}", host=target.label) from exc
    finally:
        transport.close()
        stream.close()
    verify_host_key(
        key,
        host=target.host,
        port=target.port,
        known_hosts=options.known_hosts,
        policy=options.host_key_policy,
        expected_fingerprint=target.host_key_fingerprint,
    )
    return key


def write_pins(keys: dict[str, PKey], path: Path | None = None) -> Path:
    """Replace the lines for these names in the pins file (others' lines stay), atomically, mode 0600."""
    path = path or pins_path()
    try:
        kept = [line for line in path.read_text().splitlines() if line.split(" ", 1)[0] not in keys]
    except FileNotFoundError:
        kept = []
    lines = kept + [f"{name} {key.get_name()} {key.get_base64()}" for name, key in keys.items()]
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(line + "\n" for line in lines))
    os.replace(tmp, path)
    return path
