"""The local half of the manifest: the upload set with size, mtime_ns, mode and link target."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, SyncError
from .records import LocalEntry, LocalTree
from .upload_set import list_upload_set


def refuse_unsafe_local_root(root: Path, config_path: Path | None = None) -> None:
    """A project root of `/` or the home folder itself would upload (and walk) everything: refuse it."""
    resolved = Path(os.path.abspath(root))
    with_links = resolved.resolve() if resolved.exists() else resolved
    home = Path(os.path.expanduser("~")).resolve()
    what = (
        "the filesystem root"
        if with_links == Path(with_links.anchor)
        else "your home folder"
        if with_links == home
        else None
    )
    if what is None:
        return
    raise ConfigError(
        f"the project folder to sync is {resolved}, {what}: wb would upload everything under it",
        path=str(config_path) if config_path else None,
        key="sync.adirLocal",
        hint="set sync.adirLocal to the project's own folder (or move .weatherballoon.json into it);"
        " `wb run --no-sync` runs without uploading",
    )


def scan(local_root: Path, excludes: Sequence[str] = ()) -> LocalTree:
    """List and stat the upload set under `local_root` (see `upload_set`). One git process, one lstat a path."""
    root = Path(local_root).absolute()
    refuse_unsafe_local_root(root)
    if not root.is_dir():
        raise SyncError(
            f"the local sync root {root} is not a directory",
            hint="set sync.adirLocal to the project folder, or run wb from inside it",
        )
    listing, source = list_upload_set(root, excludes)
    prefix = os.fspath(root) + "/"
    entries: list[LocalEntry] = []
    append = entries.append
    for path, st in listing:
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            try:
                target = os.readlink(prefix + path)
            except OSError:
                continue
            append(LocalEntry(path, "l", 0, 0, 0, target))
        else:
            append(LocalEntry(path, "f", st.st_size, st.st_mtime_ns, mode & 0o7777))
    return LocalTree(root=root, entries=tuple(entries), source=source)


def local_digest(root: Path, entry: LocalEntry) -> str | None:
    """sha256 of a local file, as `sync-scan` computes it remotely; None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(os.path.join(root, entry.path), "rb", buffering=0) as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()
