"""What stops a job for its output's sake, and how its end is recorded on a disk it filled.

`OutputGuard`: past the output cap (`max_output_bytes`, stdout and stderr files together) the supervisor
stops the job ("output-cap"), and when the filesystem holding them is full it stops it too ("disk-full"):
nothing a job prints may fill a disk, and a job whose output can no longer be kept must not run on unseen.

`EndRecord`: status.json, written into space taken when the job started.

Imported on the hot path of every `run`: os and the job store only.
"""

from __future__ import annotations

import contextlib
import os

from .state import DISK_FULL_BELOW_BYTES
from .store import JobPaths, dumps


class OutputGuard:
    """Whether the job's output files passed the cap, or their filesystem is full (see the module's docstring)."""

    def __init__(self, paths: JobPaths, max_output_bytes: int) -> None:
        self._paths = paths
        self._cap = max_output_bytes
        # Root may write into the blocks a filesystem keeps back for it; anyone else only into f_bavail.
        self._root = os.geteuid() == 0

    def check(self) -> str | None:
        if self._output_bytes() >= self._cap:
            return "output-cap"
        if self.disk_full():
            return "disk-full"
        return None

    def _output_bytes(self) -> int:
        total = 0
        for path in (self._paths.stdout, self._paths.stderr):
            with contextlib.suppress(OSError):
                total += os.stat(path).st_size
        return total

    def disk_full(self) -> bool:
        try:
            fs = os.statvfs(self._paths.dir)
        except OSError:
            return False
        free_blocks = fs.f_bfree if self._root else fs.f_bavail
        return free_blocks * fs.f_frsize < DISK_FULL_BELOW_BYTES


class EndRecord:
    """status.json, written into space taken when the job started: on a disk the job filled, a new file
    could not be written, and the job would later look lost. Overwritten in place, then renamed."""

    SPARE = "status.json.spare"
    SIZE = 4096  # an end record is a few hundred bytes

    def __init__(self, paths: JobPaths) -> None:
        self._spare = os.path.join(paths.dir, self.SPARE)
        self._status = paths.status

    @classmethod
    def reserve(cls, paths: JobPaths) -> None:
        fd = os.open(os.path.join(paths.dir, cls.SPARE), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b" " * cls.SIZE)
        finally:
            os.close(fd)

    def write(self, record: dict) -> None:
        data = (dumps(record) + "\n").encode("ascii")
        # No O_TRUNC: truncating first would free the reserved block and ask the full disk for a new one.
        fd = os.open(self._spare, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
            os.ftruncate(fd, len(data))
        finally:
            os.close(fd)
        os.replace(self._spare, self._status)
