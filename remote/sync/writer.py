"""Apply decoded sync frames to a directory tree: atomic writes, links, metadata, guarded deletions.

Every file is written to `.wb-tmp-<pid>-<n>` in its own directory, given its mode and mtime_ns, then
renamed over the target (`os.replace`), so a reader sees the old file or the new one, never a part.
Nothing is fsynced: a sync is repeatable, and the next one notices a file a crash lost by its size and
mtime. Used by `sync-apply` on the machine and by the client when it pulls outputs back.

A file or link that is already there, and that no sync recorded (the user's own `~/.profile`, a job's
file), is never replaced unless the writer is told it may (`overwrite`, the user's --sync-overwrite).

Errors about one path (a directory where a file should go, a parent that is a symlink, permission
denied, a file sync did not put there) are collected and the stream goes on; a full disk, a read-only or
quota-full filesystem stops everything (`FatalWriteError`), with the temp file removed and the old file intact.

Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import stat

from weatherballoon.remote.sync.globs import GlobSet
from weatherballoon.remote.sync.paths import SafeDirs, UnsafePath, check_relpath, parent_of

TYPE_CHECKING = False  # typing is not imported at run time: it costs the agent's start-up
if TYPE_CHECKING:
    from collections.abc import Iterable

FATAL_ERRNOS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
}
TEMP_PREFIX = ".wb-tmp-"
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class FatalWriteError(OSError):
    """The disk itself refused (full, quota, read-only): no later write can succeed."""

    def __init__(self, path: str, exc: OSError) -> None:
        reason = FATAL_ERRNOS.get(exc.errno or 0) or exc.strerror or str(exc)
        super().__init__(exc.errno, f"{path}: {reason}")
        self.path = path
        self.reason = reason


class WriteSummary:
    def __init__(self) -> None:
        self.written = 0
        self.links = 0
        self.bytes = 0
        self.touched = 0
        self.adopted = 0
        self.deleted = 0
        self.kept = 0
        self.errors: list[str] = []

    def as_dict(self) -> dict:
        return {
            "written": self.written,
            "links": self.links,
            "bytes": self.bytes,
            "touched": self.touched,
            "adopted": self.adopted,
            "deleted": self.deleted,
            "kept": self.kept,
            "errors": self.errors,
        }


class TreeWriter:
    """Writes under `root`. `record` (the synced set) is updated in place; None means "do not track" (and then
    anything may be replaced: outputs pulled home)."""

    def __init__(
        self, root: str, *, record: set[str] | None = None, protect: GlobSet | None = None, overwrite: bool = False
    ) -> None:
        self.root = root
        self.dirs = SafeDirs(root)
        self.record = record
        self.protect = protect or GlobSet()
        self.overwrite = overwrite
        self.summary = WriteSummary()
        self._temp_names = itertools.count()

    def _fail(self, path: str, exc: BaseException) -> None:
        if isinstance(exc, OSError) and exc.errno in FATAL_ERRNOS:
            raise FatalWriteError(path, exc) from None
        reason = exc.reason if isinstance(exc, UnsafePath) else getattr(exc, "strerror", None) or str(exc)
        self.summary.errors.append(f"{path}: {reason}")

    def _track(self, path: str) -> None:
        if self.record is not None:
            self.record.add(path)

    def _check_not_foreign(self, path: str) -> None:
        """Refuse to replace what no sync put at `path` (see the module's docstring)."""
        if self.overwrite or self.record is None or path in self.record:
            return
        if os.path.lexists(self.dirs.abspath(path)):
            raise UnsafePath(path, "is already there and no sync of this project put it there; left as it is")

    def _temp_for(self, path: str) -> str:
        parent = parent_of(path)
        name = f"{TEMP_PREFIX}{os.getpid()}-{next(self._temp_names)}"
        return self.dirs.abspath(parent + "/" + name if parent else name)

    def write_file(self, path: str, mode: int, mtime_ns: int, data: Iterable[memoryview | int]) -> bool:
        """Write one file atomically. `data` is always consumed, even when the path is refused. An int in it is
        a hole: that many zero bytes, skipped over rather than written, so a sparse file stays sparse."""
        temp = None
        try:
            check_relpath(path)
            self.dirs.ensure_parent(path)
            self._check_not_foreign(path)
            temp = self._temp_for(path)
            fd = os.open(temp, _OPEN_FLAGS, 0o600)
            try:
                size = 0
                holes = False
                for view in data:
                    if isinstance(view, int):
                        size += view
                        os.lseek(fd, size, os.SEEK_SET)
                        holes = True
                        continue
                    while view:
                        done = os.write(fd, view)
                        view = view[done:]
                        size += done
                if holes:
                    os.ftruncate(fd, size)  # a file that ends in a hole has its full length
                os.fchmod(fd, mode & 0o7777)
                os.utime(fd, ns=(mtime_ns, mtime_ns))
            finally:
                os.close(fd)
            os.replace(temp, self.dirs.abspath(path))
            temp = None
        except (OSError, UnsafePath) as exc:
            if temp is not None:
                _remove_quietly(temp)
                temp = None
            if not (isinstance(exc, OSError) and exc.errno in FATAL_ERRNOS):
                for _ in data:
                    pass
            self._fail(path, exc)
            return False
        finally:
            if temp is not None:
                _remove_quietly(temp)
        self.summary.written += 1
        self.summary.bytes += size
        self._track(path)
        return True

    def write_link(self, path: str, target: str) -> bool:
        temp = None
        try:
            check_relpath(path)
            self.dirs.ensure_parent(path)
            self._check_not_foreign(path)
            temp = self._temp_for(path)
            os.symlink(target, temp)
            os.replace(temp, self.dirs.abspath(path))
            temp = None
        except (OSError, UnsafePath) as exc:
            self._fail(path, exc)
            return False
        finally:
            if temp is not None:
                _remove_quietly(temp)
        self.summary.links += 1
        self._track(path)
        return True

    def set_meta(self, path: str, mode: int, mtime_ns: int) -> bool:
        """Give an unchanged file its new mode and mtime (after a chmod, or a touch with equal content)."""
        try:
            check_relpath(path)
            if not self.dirs.parent_exists(path):
                raise FileNotFoundError(errno.ENOENT, "no such file")
            target = self.dirs.abspath(path)
            if not stat.S_ISREG(os.lstat(target).st_mode):
                raise UnsafePath(path, "not a regular file")
            os.chmod(target, mode & 0o7777)
            os.utime(target, ns=(mtime_ns, mtime_ns))
        except (OSError, UnsafePath) as exc:
            self._fail(path, exc)
            return False
        self.summary.touched += 1
        self._track(path)
        return True

    def adopt(self, path: str) -> None:
        check_relpath(path)
        self.summary.adopted += 1
        self._track(path)

    def delete(self, path: str) -> bool:
        """Delete a file or link that sync put here and that is gone locally. Anything else is kept."""
        try:
            check_relpath(path)
        except UnsafePath as exc:
            self._fail(path, exc)
            return False
        if self.record is None or path not in self.record or self.protect.covers(path):
            self.summary.kept += 1
            if self.record is not None:
                self.record.discard(path)
            return False
        self.record.discard(path)
        try:
            if not self.dirs.parent_exists(path):
                return False
            target = self.dirs.abspath(path)
            if stat.S_ISDIR(os.lstat(target).st_mode):
                self.summary.kept += 1  # a job put a directory here: not ours to remove
                return False
            os.unlink(target)
        except FileNotFoundError:
            return False
        except (OSError, UnsafePath) as exc:
            self._fail(path, exc)
            return False
        self.summary.deleted += 1
        self._prune_parents(parent_of(path))
        return True

    def _prune_parents(self, directory: str) -> None:
        """Remove directories left empty by a deletion, up to (never including) the root."""
        while directory and not self.protect.covers(directory):
            try:
                os.rmdir(self.dirs.abspath(directory))
            except OSError:
                return
            self.dirs.forget(directory)
            directory = parent_of(directory)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
