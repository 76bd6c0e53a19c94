"""The local half of a sync, ready before the connection is: scan, drop output paths, encode the manifest.

`start_scan` runs it on a thread, so `wb run` can start it first thing, while it still connects; `sync_up`
takes the result (`scanned=`), or starts the scan itself.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from .local_scan import scan
from .manifest import encode_request
from .records import LocalEntry, LocalTree


class PreparedUpload(NamedTuple):
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
    uploads = tree.entries
    if protect:
        from weatherballoon.remote.sync.globs import GlobSet

        globs = GlobSet(list(protect))
        if globs:
            uploads = tuple(e for e in tree.entries if not globs.covers(e.path))
    return PreparedUpload(root, tuple(excludes), tuple(protect), tree, uploads, encode_request(uploads))


class PendingScan:
    """A `prepare_upload` running on a daemon thread; `result()` waits for it (and raises what it raised)."""

    def __init__(self, local_root: Path, excludes: Sequence[str], protect: Sequence[str]) -> None:
        self._done = threading.Event()
        self._value: PreparedUpload | None = None
        self._error: BaseException | None = None
        args = (local_root, excludes, protect)
        threading.Thread(target=self._work, args=args, name="wb-sync-scan", daemon=True).start()

    def _work(self, local_root: Path, excludes: Sequence[str], protect: Sequence[str]) -> None:
        try:
            self._value = prepare_upload(local_root, excludes, protect)
        except BaseException as exc:
            self._error = exc
        finally:
            self._done.set()

    def wait(self, timeout: float) -> bool:
        """True once the scan is done (or failed), waiting up to `timeout` seconds."""
        return self._done.wait(timeout)

    def result(self) -> PreparedUpload:
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def start_scan(local_root: Path, *, excludes: Sequence[str] = (), protect: Sequence[str] = ()) -> PendingScan:
    """Begin `prepare_upload` on a daemon thread; hand the result to `sync_up(..., scanned=)`."""
    return PendingScan(local_root, excludes, protect)
