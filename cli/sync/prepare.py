"""The local half of a sync, ready before the connection is: scan, drop output paths, encode the manifest.

`start_scan` runs it on a thread, so `wb run` can start it first thing, while it still connects; `sync_up`
takes the result (`scanned=`), or starts the scan itself.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from weatherballoon.remote.sync_globs import GlobSet

from .local_scan import scan
from .manifest import encode_request
from .records import LocalEntry, LocalTree


@dataclass(frozen=True)
class PreparedUpload:
    root: Path
    excludes: tuple[str, ...]
    protect: tuple[str, ...]
    tree: LocalTree
    uploads: tuple[LocalEntry, ...]  # the tree less the paths under output globs
    request: bytes  # the manifest as sync-scan reads it

    @property
    def protected(self) -> int:
        return len(self.tree.entries) - len(self.uploads)

    def matches(self, root: Path, excludes: Sequence[str], protect: Sequence[str]) -> bool:
        return (self.root, self.excludes, self.protect) == (root, tuple(excludes), tuple(protect))


def prepare_upload(local_root: Path, excludes: Sequence[str] = (), protect: Sequence[str] = ()) -> PreparedUpload:
    root = Path(local_root).absolute()
    tree = scan(root, excludes)
    globs = GlobSet(list(protect))
    uploads = tuple(e for e in tree.entries if not globs.covers(e.path)) if globs else tree.entries
    return PreparedUpload(root, tuple(excludes), tuple(protect), tree, uploads, encode_request(uploads))


def start_scan(
    local_root: Path, *, excludes: Sequence[str] = (), protect: Sequence[str] = ()
) -> Future[PreparedUpload]:
    """Begin `prepare_upload` on a daemon thread; hand the future to `sync_up(..., scanned=)`."""
    future: Future[PreparedUpload] = Future()

    def work() -> None:
        try:
            future.set_result(prepare_upload(local_root, excludes, protect))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=work, name="wb-sync-scan", daemon=True).start()
    return future
