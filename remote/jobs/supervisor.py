"""Start a job detached from the caller, and supervise it until it ends.

Process tree after `start()`:

    caller (agent `run`)          keeps the read end of the notify pipe, and the stdin FIFO's write end
      └ supervisor (forked)       own session (setsid), fds 0-2 on /dev/null, SIGHUP ignored
          └ job (posix_spawn)     own process group, stdout/stderr appended to the job's files

The caller returns as soon as the supervisor reports "started" on the notify pipe (see `notify`); the
supervisor then outlives it, the SSH session and SIGHUP.

While the job runs, the supervisor looks at its output files every GUARD_EVERY_S: past the output cap
(`max_output_bytes`) the job is stopped ("output-cap"), and when the filesystem holding them is full it is
stopped too ("disk-full"): a job whose output can no longer be kept must not run on unseen, and nothing it
prints may fill a disk. The end record's space is set aside when the job starts (`EndRecord`), so even a
full disk still learns how the job ended.
"""

from __future__ import annotations

import contextlib
import os
import time

from weatherballoon.remote.lean_stdlib import sig

from .. import procinfo
from ..agent_io import say
from . import notify, wake_daemon
from .guard import EndRecord, OutputGuard
from .spawn import START_FAILED_EXIT, StartError, spawn_job
from .state import DEFAULT_MAX_OUTPUT_BYTES, STOP_REASONS, outcome
from .store import JobPaths, make_jobs_dir, write_json_atomic

TYPE_CHECKING = False  # `typing` costs startup on every run
if TYPE_CHECKING:
    from .gang import GangSpec, _Link

GRACE_S = 5.0
GUARD_EVERY_S = 0.25
# Written into the job's dir by the daemon before it stops the job's group (max-cost): the reason recorded.
STOP_REQUEST = "stop.json"
_WATCHED = (sig.SIGCHLD, sig.SIGINT, sig.SIGTERM)


class JobSpec:
    """What `run` asks for; `command` is argv, or one shell command line when it has one element."""

    __slots__ = (
        "claim", "command", "cwd", "env", "gang", "max_cost_usd", "max_output_bytes", "max_time_s", "outputs", "paths",
        "stdin",
    )  # fmt: skip

    def __init__(
        self,
        paths: JobPaths,
        command: list,
        cwd: str,
        env: dict | None = None,
        max_time_s: float | None = None,
        stdin: bool = False,
        outputs: list | None = None,
        max_cost_usd: float | None = None,
        claim: str | None = None,
        max_output_bytes: int | None = None,
        gang: GangSpec | None = None,
    ) -> None:
        self.paths = paths
        self.command = list(command)
        self.cwd = cwd
        self.env = dict(env or {})
        self.max_time_s = max_time_s
        self.stdin = stdin
        self.outputs = list(outputs or [])
        self.max_cost_usd = max_cost_usd
        self.claim = claim
        self.max_output_bytes = DEFAULT_MAX_OUTPUT_BYTES if max_output_bytes is None else max_output_bytes
        self.gang = gang  # one rank of a job on several machines (`gang`)

    def argv(self) -> list:
        # Like ssh: one argument is a shell command line, several are an argv.
        if len(self.command) == 1:
            return ["/bin/sh", "-c", self.command[0]]
        return self.command


class Launch:
    """The caller's side of a started job: the notify pipe, and the write end of the job's stdin FIFO."""

    __slots__ = ("notify", "stdin_fd")

    def __init__(self, notify_pipe: notify.NotifyPipe, stdin_fd: int | None) -> None:
        self.notify = notify_pipe
        self.stdin_fd = stdin_fd


def start(spec: JobSpec) -> Launch:
    """Create the job's files and fork its supervisor. Raises FileExistsError for a used job id."""
    paths = spec.paths
    make_jobs_dir(os.path.dirname(paths.dir))
    os.mkdir(paths.dir, 0o700)
    append = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND
    out_fd = os.open(paths.stdout, append, 0o600)
    err_fd = os.open(paths.stderr, append, 0o600)
    EndRecord.reserve(paths)
    stdin_write = None
    if spec.stdin:
        os.mkfifo(paths.stdin, 0o600)
        # Opening the read end first lets the write end open without blocking; the job inherits the read
        # end, so it sees EOF as soon as the caller closes (or loses) the write end, never a hang.
        stdin_read = os.open(paths.stdin, os.O_RDONLY | os.O_NONBLOCK)
        stdin_write = os.open(paths.stdin, os.O_WRONLY | os.O_NONBLOCK)
    else:
        stdin_read = os.open(os.devnull, os.O_RDONLY)
    notify_read, notify_write = os.pipe()
    if os.fork() == 0:
        code = START_FAILED_EXIT
        try:
            os.close(notify_read)
            if stdin_write is not None:
                os.close(stdin_write)
            code = _supervise(spec, out_fd, err_fd, stdin_read, notify_write)
        finally:
            os._exit(code)
    for fd in (out_fd, err_fd, stdin_read, notify_write):
        os.close(fd)
    return Launch(notify.NotifyPipe(notify_read), stdin_write)


def _supervise(spec: JobSpec, out_fd: int, err_fd: int, stdin_fd: int, notify_fd: int) -> int:
    os.setsid()
    _detach_stdio()
    _close_fds_except((0, 1, 2, out_fd, err_fd, stdin_fd, notify_fd))
    sig.signal(sig.SIGHUP, sig.SIG_IGN)
    # Blocked, the watched signals queue up for sigtimedwait instead of racing a handler against wait.
    sig.pthread_sigmask(sig.SIG_BLOCK, _WATCHED)
    paths = spec.paths
    env = dict(os.environ)
    env.update(spec.env)
    env["WB_JOB_ID"] = paths.id
    started_at = time.time()
    link = None
    try:
        if spec.gang is not None:
            link = _join_gang(spec, env)
        job_pid = spawn_job(spec.argv(), spec.cwd, env, stdin_fd, out_fd, err_fd)
    except StartError as exc:
        _close_gang_ssh(spec)
        say(exc.reason, fd=err_fd)  # on the job's own stderr: `wb logs` shows why it never ran
        _record(paths.meta, _meta(spec, started_at, None, None))
        notify.send_started(notify_fd, None, exc.problem)
        _record_end(spec, started_at, exc.exit_code, None, None, notify_fd)
        return 0
    for fd in (out_fd, err_fd, stdin_fd):
        os.close(fd)
    job_start = procinfo.proc_start(job_pid)
    _record(paths.meta, _meta(spec, started_at, job_pid, job_start))
    notify.send_started(notify_fd, job_pid)
    guard = OutputGuard(paths, spec.max_output_bytes)
    try:
        wait_status, stop_reason = _wait(job_pid, spec.max_time_s, guard, link)
    finally:
        _close_gang_ssh(spec)
    if stop_reason is None:
        stop_reason = requested_stop(paths)
    if stop_reason is None and guard.disk_full():  # it ended by itself, but its output may be cut short
        stop_reason = "disk-full"
    exit_code, signal = outcome(wait_status, None if stop_reason == "gang" else stop_reason)
    extra = None
    if link is not None:
        failure = link.job_ended(exit_code)
        if failure is not None and spec.gang is not None and failure.rank != spec.gang.rank:
            # Stopped for (or, on rank 0, outlived by) another rank's failure: the gang's code is that rank's.
            exit_code, stop_reason, extra = failure.code, stop_reason or "gang", {"gang": failure.record()}
            _say_in_stderr(paths, failure.line())
    _record_end(spec, started_at, exit_code, signal, stop_reason, notify_fd, extra)
    return 0


def _join_gang(spec: JobSpec, env: dict) -> _Link:
    """Start this rank's gang link, and write the MPI hostfile the job's environment names (WB_HOSTFILE)."""
    from .gang import link_for, write_hostfile

    gang = spec.gang
    assert gang is not None
    hostfile = os.path.join(spec.paths.dir, "hostfile")
    try:
        slots = int(env.get("GPUS_PER_NODE") or "1")
        write_hostfile(hostfile, (env.get("WB_NODE_IPS") or "").split(), max(slots, 1))
        env["WB_HOSTFILE"] = hostfile
        link = link_for(gang)
    except (OSError, ValueError) as exc:
        raise StartError(
            START_FAILED_EXIT, f"gang: rank {gang.rank} cannot join on port {gang.hub_port}: {exc}"
        ) from None
    if gang.ssh is not None:
        from .gang_ssh import open_for_job

        try:
            open_for_job(gang.ssh, gang.rank, spec.paths.id, spec.paths.dir, env)
        except (
            OSError,
            ValueError,
        ) as exc:  # as when the job cannot start: the link, and the gang, end with this process
            raise StartError(START_FAILED_EXIT, f"gang: rank {gang.rank} cannot set up the gang's ssh: {exc}") from None
    return link


def _close_gang_ssh(spec: JobSpec) -> None:
    """The job's gang ssh goes with it: rank 0's key, or this rank's authorized_keys line (gang_ssh.py)."""
    if spec.gang is not None and spec.gang.ssh is not None:
        from .gang_ssh import close_for_job

        close_for_job(spec.gang.rank, spec.paths.id, spec.paths.dir)


def _say_in_stderr(paths: JobPaths, line: str) -> None:
    """A `wb-agent:` line appended to the job's stderr file: replays and followers show it in its place."""
    with contextlib.suppress(OSError):
        fd = os.open(paths.stderr, os.O_WRONLY | os.O_APPEND)
        try:
            say(line, fd=fd)
        finally:
            os.close(fd)


def _meta(spec: JobSpec, started_at: float, pid: int | None, pid_start: int | None) -> dict:
    return {
        "id": spec.paths.id,
        "command": spec.command,
        "cwd": spec.cwd,
        "pid": pid,
        "pgid": pid,
        "proc_start": pid_start,
        "started_at": started_at,
        "max_time_s": spec.max_time_s,
        "max_cost_usd": spec.max_cost_usd,
        "max_output_bytes": spec.max_output_bytes,
        "claim": spec.claim,
        "stdin": spec.stdin,
        "outputs": spec.outputs,
        "gang": None if spec.gang is None else spec.gang.describe(),
        "supervisor_pid": os.getpid(),
        "supervisor_start": procinfo.proc_start(os.getpid()),
        "boot_id": procinfo.boot_id(),
    }


def requested_stop(paths: JobPaths) -> str | None:
    """The reason another part of the agent stopped this job for (see STOP_REQUEST), if it did."""
    path = os.path.join(paths.dir, STOP_REQUEST)
    if not os.path.exists(path):  # the common case, without importing json
        return None
    from .store import read_json

    reason = (read_json(path) or {}).get("reason")
    return reason if reason in STOP_REASONS else None


def _record_end(
    spec: JobSpec,
    started_at: float,
    exit_code: int,
    signal: int | None,
    stop_reason: str | None,
    notify_fd: int,
    extra: dict | None = None,
) -> None:
    status = {
        "exit_code": exit_code,
        "signal": signal,
        "stop_reason": stop_reason,
        "ended_at": time.time(),
        "started_at": started_at,
        **(extra or {}),
    }
    with contextlib.suppress(OSError):
        EndRecord(spec.paths).write(status)
    notify.send_ended(notify_fd, exit_code, signal, stop_reason)
    wake_daemon.wake()  # aws: the daemon closes the job's row and releases the machine now, not a period later


def _record(path: str, record: dict) -> None:
    # Best effort (a full disk): the job is running, and the caller still hears from the notify pipe.
    with contextlib.suppress(OSError):
        write_json_atomic(path, record)


def _wait(job_pid: int, max_time_s: float | None, guard: OutputGuard, link: _Link | None = None) -> tuple:
    """Reap the job. When --max-time passes, the guard objects or the gang failed elsewhere, TERM its group,
    then KILL it after the grace."""
    deadline = None if max_time_s is None else time.monotonic() + max_time_s
    stop_reason = None
    kill_at = None
    next_guard = 0.0
    while True:
        pid, wait_status = os.waitpid(job_pid, os.WNOHANG)
        if pid:
            return wait_status, stop_reason
        now = time.monotonic()
        if stop_reason is None:
            if deadline is not None and now >= deadline:
                stop_reason = "max-time"
            elif now >= next_guard:
                stop_reason = guard.check()
                if stop_reason is None and link is not None and link.stop_request() is not None:
                    stop_reason = "gang"
                next_guard = now + GUARD_EVERY_S
            if stop_reason is not None:
                _killpg(job_pid, sig.SIGTERM)
                kill_at = now + GRACE_S
        elif kill_at is not None and now >= kill_at:
            _killpg(job_pid, sig.SIGKILL)
            kill_at = None
        if stop_reason is None:
            wake_at: float | None = next_guard if deadline is None else min(next_guard, deadline)
        else:
            wake_at = kill_at
        timeout = GUARD_EVERY_S if wake_at is None else max(wake_at - now, 0.001)
        info = sig.sigtimedwait(_WATCHED, timeout)
        if info is not None and info.si_signo != sig.SIGCHLD:
            # Someone signalled the supervisor (shutdown, an operator): pass it on, keep recording.
            _killpg(job_pid, info.si_signo)


def _detach_stdio() -> None:
    # The SSH channel must not stay open because the supervisor holds its pipes.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def _close_fds_except(keep: tuple) -> None:
    try:
        open_fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        open_fds = list(range(3, 256))
    for fd in open_fds:
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _killpg(pgid: int, signo: int) -> None:
    with contextlib.suppress(OSError):  # the group is already gone
        os.killpg(pgid, signo)
