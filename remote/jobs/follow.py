"""Copy a job's stdout and stderr files to our own stdout and stderr until the job ends.

Regular files cannot be select()ed for growth, so the files are polled: every 1 ms while data flows,
backing off to 50 ms while idle. The end is noticed at once when we started the job ourselves (the
supervisor's notify pipe, see `notify`), and otherwise from status.json on the next poll.
"""

from __future__ import annotations

import os
import select
import time

from .. import procinfo
from ..agent_io import LOST_EXIT, READER_GONE_EXIT, STREAM_HEADER, say
from .notify import NotifyPipe
from .state import lost_message, stop_message
from .store import JobPaths, read_json

CHUNK = 1 << 20
ROUND_LIMIT = 4 * CHUNK  # per stream per round, so a flood on stdout does not starve stderr
MIN_INTERVAL_S = 0.001
MAX_INTERVAL_S = 0.05
LIVENESS_EVERY_S = 0.5
META_GRACE_S = 10.0  # how long a job dir may lack meta.json (its supervisor is starting) before "lost"

_GONE = select.POLLERR | select.POLLHUP


class ReaderGone(Exception):
    """Whoever read our stdout or stderr went away (the SSH session ended); the job runs on."""


class JobEnd:
    """How a job ended; `lost` when its supervisor and process vanished without a status record."""

    __slots__ = ("exit_code", "lost", "stop_reason")

    def __init__(self, exit_code: int, stop_reason: str | None = None, lost: bool = False) -> None:
        self.exit_code = exit_code
        self.stop_reason = stop_reason
        self.lost = lost


class Streams:
    """The job's two output files, each copied from its own offset to our fd 1 or fd 2."""

    def __init__(self, paths: JobPaths, stdout_offset: int = 0, stderr_offset: int = 0) -> None:
        self._pairs = []
        for path, offset, target in ((paths.stdout, stdout_offset, 1), (paths.stderr, stderr_offset, 2)):
            fd = os.open(path, os.O_RDONLY)
            os.lseek(fd, offset, os.SEEK_SET)
            self._pairs.append((fd, target))

    def copy_available(self, limit: int = ROUND_LIMIT) -> bool:
        """Copy what the files hold now (up to `limit` bytes each); True if anything was copied."""
        copied = False
        for source, target in self._pairs:
            budget = limit
            while budget > 0:
                data = os.read(source, min(CHUNK, budget))
                if not data:
                    break
                _write_all(target, data)
                budget -= len(data)
                copied = True
        return copied

    def copy_all(self) -> None:
        while self.copy_available():
            pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:  # someone made our stdout non-blocking: wait for room
            select.select([], [fd], [])
        except BrokenPipeError:
            raise ReaderGone() from None


class StdinPump:
    """Copies our stdin into the job's FIFO without ever blocking the output loop.

    It waits on one fd at a time: stdin for data, or the FIFO for room to write what it holds. It stops
    quietly when the job stops reading (EPIPE), and closes the FIFO at our EOF so the job sees EOF.
    """

    def __init__(self, poller: select.poll, fifo_fd: int, source_fd: int = 0) -> None:
        self._poller = poller
        self._fifo: int | None = fifo_fd
        self._source: int | None = source_fd
        self._pending = b""
        self._waiting_on: int | None = None
        self._wait_on(source_fd, select.POLLIN)

    def handles(self, fd: int) -> bool:
        return fd == self._waiting_on

    def on_event(self, fd: int) -> None:
        if fd == self._source:
            self._read()
        else:
            self._flush()

    def _wait_on(self, fd: int | None, events: int = 0) -> None:
        if self._waiting_on is not None:
            self._poller.unregister(self._waiting_on)
        self._waiting_on = fd
        if fd is not None:
            self._poller.register(fd, events)

    def _read(self) -> None:
        assert self._source is not None
        try:
            data = os.read(self._source, 1 << 16)
        except OSError:
            data = b""
        if not data:
            self._source = None
            self._finish()
            return
        self._pending = data
        self._flush()

    def _flush(self) -> None:
        assert self._fifo is not None
        try:
            written = os.write(self._fifo, self._pending)
        except BlockingIOError:
            written = 0
        except OSError:  # EPIPE: the job exited or closed its stdin
            self._source = None
            self._finish()
            return
        self._pending = self._pending[written:]
        if self._pending:
            self._wait_on(self._fifo, select.POLLOUT)
        elif self._source is not None:
            self._wait_on(self._source, select.POLLIN)
        else:
            self._finish()

    def _finish(self) -> None:
        self._wait_on(None)
        self._pending = b""
        if self._fifo is not None:
            os.close(self._fifo)
            self._fifo = None


def follow(
    paths: JobPaths,
    stdout_offset: int = 0,
    stderr_offset: int = 0,
    wait: bool = True,
    notify: NotifyPipe | None = None,
    stdin_fifo_fd: int | None = None,
) -> JobEnd | None:
    """Stream the job's output until it ends; returns how it ended, None if still running (no wait).

    Raises ReaderGone when our stdout's reader disappears.
    """
    streams = Streams(paths, stdout_offset, stderr_offset)
    if not wait:
        streams.copy_all()
        watch = _EndWatch(paths)
        return watch.end_if_recorded() or watch.end_if_lost()
    poller = select.poll()
    poller.register(1, 0)  # no events asked: POLLERR/POLLHUP still report a vanished reader
    if notify is not None and not notify.closed:
        poller.register(notify.fd, select.POLLIN)
    pump = StdinPump(poller, stdin_fifo_fd) if stdin_fifo_fd is not None else None
    watch = _EndWatch(paths)
    interval = MIN_INTERVAL_S
    while True:
        end = _end_now(watch, notify)
        copied = streams.copy_available()
        if end is not None:
            streams.copy_all()
            return end
        interval = MIN_INTERVAL_S if copied else min(interval * 2, MAX_INTERVAL_S)
        for fd, events in poller.poll(interval * 1000):
            if fd == 1:
                if events & select.POLLNVAL:
                    poller.unregister(1)
                elif events & _GONE:
                    raise ReaderGone()
            elif notify is not None and fd == notify.fd:
                notify.read()
                if notify.closed:
                    poller.unregister(fd)
            elif pump is not None and pump.handles(fd):
                pump.on_event(fd)


def _end_now(watch: _EndWatch, notify: NotifyPipe | None) -> JobEnd | None:
    if notify is not None and notify.ended:
        assert notify.exit_code is not None
        return JobEnd(notify.exit_code, notify.stop_reason)
    if notify is not None and not notify.closed:
        # The supervisor will say when the job ends; reading status.json would import `json`.
        return None
    return watch.end_if_recorded() or watch.end_if_lost()


class _EndWatch:
    """Learns from the job's records whether it ended, or was lost (supervisor and job both gone)."""

    def __init__(self, paths: JobPaths) -> None:
        self._paths = paths
        self._meta: dict | None = None
        self._next_liveness = 0.0

    def end_if_recorded(self) -> JobEnd | None:
        if not self._paths.has_ended():
            return None
        status = read_json(self._paths.status)
        if status is None:
            return None
        return JobEnd(int(status.get("exit_code", LOST_EXIT)), status.get("stop_reason"))

    def end_if_lost(self) -> JobEnd | None:
        now = time.monotonic()
        if now < self._next_liveness:
            return None
        self._next_liveness = now + LIVENESS_EVERY_S
        if self._alive():
            return None
        # The supervisor writes status.json before it exits: look again now that it is gone.
        return self.end_if_recorded() or JobEnd(LOST_EXIT, lost=True)

    def _alive(self) -> bool:
        if self._meta is None:
            self._meta = read_json(self._paths.meta)
        meta = self._meta
        if meta is None:
            return is_starting(self._paths)
        return procinfo.job_is_live(meta)


def is_starting(paths: JobPaths) -> bool:
    """A job dir without meta.json is a job whose supervisor is still starting, for a while."""
    try:
        return time.time() - os.stat(paths.dir).st_mtime < META_GRACE_S
    except OSError:
        return False


def follow_to_end(
    paths: JobPaths,
    stdout_offset: int = 0,
    stderr_offset: int = 0,
    wait: bool = True,
    notify: NotifyPipe | None = None,
    stdin_fifo_fd: int | None = None,
) -> int:
    """`follow` as a command: the stream header (`agent_io`), the job's output, then how the job ended on
    stderr when needed; the exit code."""
    try:
        _write_all(1, STREAM_HEADER)
        end = follow(paths, stdout_offset, stderr_offset, wait, notify, stdin_fifo_fd)
    except ReaderGone:
        return READER_GONE_EXIT
    except FileNotFoundError:  # a job dir without output files: nothing ever ran there
        end = JobEnd(LOST_EXIT, lost=True)
    if end is None:
        return 0
    if end.lost:
        message = lost_message(paths.id)
    elif end.stop_reason == "gang":  # its supervisor wrote the line, naming the rank, into the job's stderr
        return end.exit_code
    elif end.stop_reason is not None:
        meta = read_json(paths.meta) or {}
        message = stop_message(paths.id, end.stop_reason, meta, paths.dir)
    else:
        return end.exit_code
    say(message)
    return end.exit_code
