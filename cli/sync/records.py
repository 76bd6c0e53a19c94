"""Typed records that pass between the sync client's layers and out to `wb run` / `wb pull`.

The internal records are named tuples, not dataclasses: a scan makes one `LocalEntry` per file (5,000 in
the benchmark tree), a tuple is made several times faster than a frozen dataclass and its class is made in
a fraction of the time (every `wb run` pays for that too); the manifest's columns come from `zip(*entries)`.
The summaries handed out of the package stay dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

LocalKind = Literal["f", "l"]


class LocalEntry(NamedTuple):
    """One path of the upload set: a regular file ("f") or a symlink ("l", sent as a link)."""

    path: str  # relative, "/"-separated
    kind: LocalKind
    size: int
    mtime_ns: int
    mode: int  # permission bits (stat.S_IMODE)
    target: str | None = None  # symlinks only


class LocalTree(NamedTuple):
    """What `scan` found: the upload set with each entry's stat, sorted by path."""

    root: Path
    entries: tuple[LocalEntry, ...]
    source: Literal["git", "walk"]  # git ls-files, or a walk honoring .gitignore files

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.entries)


class RemoteEntry(NamedTuple):
    """The remote state of a path that differs from the local one, or that only the record knows."""

    path: str
    kind: str | None  # "f", "l", "d" (directory), "o" (other), None (absent)
    size: int
    mtime_ns: int
    mode: int
    target: str | None
    tracked: bool  # a previous sync put it there
    digest: str | None  # sha256, only for same-size files with another mtime


class RemoteManifest(NamedTuple):
    root: str  # absolute, as resolved on the machine
    recorded: bool  # a record of earlier syncs exists
    matched: int  # identical and recorded, not listed in entries
    entries: tuple[RemoteEntry, ...]


class SyncPlan(NamedTuple):
    """What one sync does: the pure result of comparing a LocalTree with a RemoteManifest."""

    send: tuple[LocalEntry, ...] = ()  # content travels
    touch: tuple[LocalEntry, ...] = ()  # same content: only mode and mtime change
    adopt: tuple[str, ...] = ()  # already identical remotely, not yet recorded as synced
    delete: tuple[str, ...] = ()  # synced before, gone locally
    verify: tuple[tuple[LocalEntry, str], ...] = ()  # same size, other mtime: (entry, remote sha256)

    @property
    def is_noop(self) -> bool:
        return not (self.send or self.touch or self.adopt or self.delete or self.verify)

    @property
    def bytes_to_send(self) -> int:
        return sum(entry.size for entry in self.send if entry.kind == "f")


@dataclass(frozen=True)
class SyncProgress:
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


@dataclass(frozen=True)
class SyncSummary:
    files_sent: int  # files and symlinks written remotely
    bytes_sent: int  # file content bytes sent (before compression)
    wire_bytes: int  # bytes of the stream as sent (after compression)
    deleted: int
    unchanged: int  # upload-set entries whose content did not travel
    touched: int  # of those, the ones whose mode or mtime was updated
    protected: int  # local files under an output glob, never uploaded
    remote_root: str  # absolute path on the machine
    seconds: float


@dataclass(frozen=True)
class PullSummary:
    files: int  # files and symlinks written locally
    bytes: int
    unchanged: int  # already here with the same size and mtime
    seconds: float
