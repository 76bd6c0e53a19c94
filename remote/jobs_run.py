"""The `run` command: create the job, start its supervisor, then either print the id or follow it."""

from __future__ import annotations

# _signal, not signal: the public module imports enum (startup cost on every `run`).
import _signal
import contextlib
import os

from . import daemon_wake, supervisor
from .jobs_args import RunArgs
from .jobs_cli import USAGE_EXIT, say
from .jobstore import JobPaths
from .notify import NotifyPipe
from .spawn import START_FAILED_EXIT

FORWARDED_SIGNALS = (_signal.SIGINT, _signal.SIGTERM)


def run(args: RunArgs) -> int:
    paths = JobPaths(args.job_id)
    spec = supervisor.JobSpec(
        paths,
        args.command,
        args.cwd,
        args.env,
        args.max_time_s,
        args.stdin,
        outputs=args.outputs,
        max_cost_usd=args.max_cost_usd,
        claim=args.claim,
    )
    try:
        launch = supervisor.start(spec)
    except FileExistsError:
        say(f"run: job id {args.job_id} is already used on this machine")
        return USAGE_EXIT
    except OSError as exc:
        say(f"run: cannot create job {args.job_id} under {os.path.dirname(paths.dir)}: {exc}")
        return START_FAILED_EXIT
    notify = launch.notify
    if not notify.wait_started():
        say(f"run: the supervisor of job {args.job_id} died before the job started")
        return START_FAILED_EXIT
    daemon_wake.wake()  # aws: the daemon writes the job's row (with its caps) now, not a period later
    if not args.follow:
        if launch.stdin_fd is not None:
            os.close(launch.stdin_fd)
        # If nobody reads this, the job still runs; the caller can find it with `list`.
        with contextlib.suppress(OSError):
            os.write(1, (args.job_id + "\n").encode("ascii"))
        return 0
    from .follow import follow_to_end

    if notify.job_pid is not None:
        _forward_signals_to(notify.job_pid, notify)
    return follow_to_end(paths, notify=notify, stdin_fifo_fd=launch.stdin_fd)


def _forward_signals_to(pgid: int, notify: NotifyPipe) -> None:
    def forward(signo: int, frame: object) -> None:
        # After the end is reported the pgid is free for reuse; before, the supervisor has only just
        # reaped the job, if at all.
        if not notify.ended:
            with contextlib.suppress(OSError):
                os.killpg(pgid, signo)

    for signo in FORWARDED_SIGNALS:
        _signal.signal(signo, forward)
