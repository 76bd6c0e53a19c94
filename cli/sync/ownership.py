"""Which project a remote root belongs to, and where a project goes by default.

A project is one local folder on one client: its identity is a hash of the folder's absolute path and of a
random id this client keeps in its data dir (`client-id`, made once). The path alone would not do: two
people whose projects sit at the same path (`/workspaces/app` in a dev container, `/home/runner/work/app`
on CI) would share a root on a shared machine. The id is stable while the folder stays where it is and
wb's data dir is kept; it is not secret.

The default remote root is `~/wb/<folder name>-<first 8 hex digits of the identity>`, so two projects
named `app` never share one. The agent records the identity with the root (`remote/sync/state.py`) and
refuses a root another project owns unless told to take it over (`--sync-overwrite`). Older versions of
wb used `~/wb/<folder name>`: it is left alone, and the first sync to the new root says so.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from ..paths import data_dir

CLIENT_ID_FILE = "client-id"


@dataclass(frozen=True)
class ProjectIdentity:
    id: str  # hex; stored with the root on the machine
    label: str  # who and where, for people: user@host:/path/to/project

    def agent_args(self) -> list[str]:
        return ["--owner", self.id, "--label", self.label]


def client_id() -> str:
    """This client's random id, made the first time it is asked for (two wb processes agree on it)."""
    path = data_dir() / CLIENT_ID_FILE
    with contextlib.suppress(FileNotFoundError):
        existing = path.read_text(encoding="ascii").strip()
        if existing:
            return existing
    fresh = secrets.token_hex(16)
    temp = path.with_name(f".{CLIENT_ID_FILE}.{os.getpid()}")
    temp.write_text(fresh + "\n", encoding="ascii")
    try:
        os.link(temp, path)  # no clobbering: whoever linked first wins, the others read theirs
    except FileExistsError:
        return path.read_text(encoding="ascii").strip() or fresh
    except OSError:  # a filesystem without hard links
        os.replace(temp, path)
        return fresh
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()
    return fresh


def _who() -> str:
    try:
        user = getpass.getuser()
    except (OSError, KeyError, ImportError):
        user = "someone"
    return f"{user}@{socket.gethostname() or 'localhost'}"


def project_identity(local_root: Path) -> ProjectIdentity:
    root = Path(os.path.abspath(local_root))
    digest = hashlib.sha256(client_id().encode("ascii") + b"\0" + os.fsencode(root)).hexdigest()
    return ProjectIdentity(id=digest[:32], label=f"{_who()}:{root}")


def _folder_name(local_root: Path) -> str:
    return Path(os.path.abspath(local_root)).name or "root"


def default_remote_root(local_root: Path, identity: ProjectIdentity | None = None) -> str:
    """`~/wb/<folder name>-<8 hex of the project identity>` (see the module's docstring)."""
    identity = identity or project_identity(local_root)
    return f"~/wb/{_folder_name(local_root)}-{identity.id[:8]}"


def legacy_remote_root(local_root: Path) -> str:
    """Where wb before project identities put a project: `~/wb/<folder name>`."""
    return f"~/wb/{_folder_name(local_root)}"
