"""The `run` command: create the job, start its supervisor, then either print the id or follow it."""

from __future__ import annotations

import contextlib
import os

from weatherballoon.remote.lean_stdlib import sig

from ..agent_io import JOB_STATE_EXIT, PREFIX, TOO_LONG_EXIT, USAGE_EXIT, say
from . import supervisor, wake_daemon
from .args import RunArgs
from .notify import NotifyPipe
from .spawn import TOO_LONG
from .store import JobPaths

FORWARDED_SIGNALS = (sig.SIGINT, sig.SIGTERM)


def run(args: RunArgs) -> int:
    """Start the job `args` describe (its spec already read, with --spec-stdin); the command's exit code."""
    paths = JobPaths(args.job_id)
    gang = None
    if args.gang is not None:
        from .gang import GangSpec

        token = args.env.pop("WB_GANG_TOKEN", "")  # the link's secret, not the job's to see
        if not token:
            say("--gang-rank needs WB_GANG_TOKEN in the job spec's environment", "run")
            return USAGE_EXIT
        from .gang_ssh import take_from

        try:
            ssh = take_from(args.env)  # the gang's ssh key (--gang-ssh): not the job's to see either
        except ValueError as exc:
            say(str(exc), "run")
            return USAGE_EXIT
        rank, nodes, hub_host, hub_port = args.gang
        gang = GangSpec(rank, nodes, hub_host, hub_port, token, ssh)
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
        max_output_bytes=args.max_output_bytes,
        gang=gang,
    )
    try:
        launch = supervisor.start(spec)
    except FileExistsError:
        say(f"job id {args.job_id} is already used on this machine", "run")
        return USAGE_EXIT
    except OSError as exc:
        say(f"cannot create job {args.job_id} under {os.path.dirname(paths.dir)}: {exc.strerror or exc}", "run")
        return JOB_STATE_EXIT
    notify = launch.notify
    if not notify.wait_started():
        say(f"the supervisor of job {args.job_id} died before the job started", "run")
        return JOB_STATE_EXIT
    if notify.start_problem == TOO_LONG:
        if launch.stdin_fd is not None:
            os.close(launch.stdin_fd)
        say(f"job {args.job_id} did not start: {_start_failure(paths)}", "run")
        return TOO_LONG_EXIT
    wake_daemon.wake()  # aws: the daemon writes the job's row (with its caps) now, not a period later
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


def _start_failure(paths: JobPaths) -> str:
    """The reason the supervisor wrote on the job's stderr when the job could not start."""
    try:
        with open(paths.stderr, "rb") as handle:
            text = handle.read(4096).decode("utf-8", "replace")
    except OSError:
        return "it could not be started"
    return text.strip().replace(PREFIX, "") or "it could not be started"


def _forward_signals_to(pgid: int, notify: NotifyPipe) -> None:
    def forward(signo: int, frame: object) -> None:
        # After the end is reported the pgid is free for reuse; before, the supervisor has only just
        # reaped the job, if at all.
        if not notify.ended:
            with contextlib.suppress(OSError):
                os.killpg(pgid, signo)

    for signo in FORWARDED_SIGNALS:
        sig.signal(signo, forward)
