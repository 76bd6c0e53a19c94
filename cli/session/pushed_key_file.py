"""The key `wb proxy` pushes for OpenSSH, in a file that lives as long as the relay.

wb's own connections hold a pushed key in memory (`instance_connect.py`). OpenSSH, which `wb proxy` serves as
its ProxyCommand, can only read a key from a file: `wb ssh-config` names `<data dir>/instance-connect/<id>`
as the machine's IdentityFile, and `wb proxy` writes a fresh key there (0600, atomically; folder 0700), pushes
its public half, relays, and removes the file when the relay ends.

Timing: ssh starts the ProxyCommand and at once reads the IdentityFile's public half, if the file is there; it
reads the private half only when it authenticates, after the relay has carried the server's banner and key
exchange. So a key written before the relay starts is always there in time. But a file already there when
ssh starts (another `wb proxy` to the same machine still relaying, or one killed before its cleanup) has had
its public half read by that ssh: replacing it would make that ssh offer one key and find another. So
`wb proxy` pushes the key already in the file, when there is one, and writes a fresh one only when there is
none; whichever relay ends first removes the file (a later ssh gets a fresh key). The file is worthless
alone: EC2 honours a pushed key for 60 s, and only IAM lets anyone push it again.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..paths import data_dir, private_dir
from .instance_connect import PushedKey, fresh_key, send_public_key

if TYPE_CHECKING:
    from .instance_connect import InstanceConnect

FOLDER = "instance-connect"


def key_path(instance_id: str) -> Path:
    """Where `wb proxy` keeps the key for this machine (what `wb ssh-config` names as its IdentityFile)."""
    return data_dir() / FOLDER / instance_id


def key_folder() -> Path:
    """The folder of those keys, made 0700 if it is not there."""
    return private_dir(FOLDER)


@contextlib.contextmanager
def pushed_key_file(reach: InstanceConnect, label: str) -> Iterator[Path]:
    """The machine's key file (the one there, else a fresh one), its public half pushed; on exit the file is
    removed unless it holds another key by then."""
    path = key_folder() / reach.instance_id
    key = claim_key(path)
    try:
        send_public_key(reach, key.public_line, label)
        yield path
    finally:
        remove_if_holding(path, key)


def claim_key(path: Path) -> PushedKey:
    """The key in `path` when it holds one; else a fresh key written there atomically (a temp file in the same
    folder, mode 0600, linked into place only if no other `wb proxy` put one there meanwhile)."""
    found = read_key(path)
    if found is not None:
        return found
    key = fresh_key()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.private_openssh)
        try:
            os.link(tmp, path)
        except FileExistsError:
            other = read_key(path)
            if other is not None:
                return other  # a concurrent `wb proxy` won: use its key, as its ssh and ours may both read it
            os.replace(tmp, path)  # what was there is no key of ours
        except OSError:
            os.replace(tmp, path)  # no hard links on this file system
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return key


def read_key(path: Path) -> PushedKey | None:
    try:
        return PushedKey.of_private(path.read_bytes())
    except (OSError, ValueError):
        return None


def remove_if_holding(path: Path, key: PushedKey) -> None:
    """Remove the key file unless it holds another key now (or is already gone)."""
    with contextlib.suppress(FileNotFoundError):
        if path.read_bytes() == key.private_openssh:
            path.unlink()
