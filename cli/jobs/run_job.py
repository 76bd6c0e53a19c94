"""`wb run`: find a machine, sync, start the job, stream it, bring outputs back, return its exit code."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from weatherballoon.remote.agent_io import STREAM_HEADER

from ..app import App
from ..config.model import LoadedConfig
from ..errors import ConnectionLost, SupervisionStop, UsageError, WbError
from ..providers.base import Provider
from ..providers.held import Held, Obtained
from ..providers.records import Instance, InstanceSpec
from ..render.progress import spinner, sync_bar
from ..session import warm_start
from ..sync.client import ThenRun
from ..sync.local_scan import refuse_unsafe_local_root
from ..sync.ownership import legacy_remote_root, project_identity
from ..trace import mark
from . import index
from .agent_status import job_command_failed
from .attach import pump
from .remote_paths import remote_root_for
from .resume import follow_past_tunnel_ends

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..session.agent import RemoteAgent
    from ..session.connection import RemoteExec
    from ..session.forward import ForwardSpec
    from ..session.prefetch import Prefetch

# How long a job whose reader went away has to end after SIGPIPE before it gets SIGTERM.
PIPE_GRACE_S = 1.0
EXIT_OUTPUT_CLOSED = 141


@dataclass(frozen=True)
class RunRequest:
    command: tuple[str, ...]
    spec: InstanceSpec
    detach: bool = False
    sync: bool = True
    env: tuple[tuple[str, str], ...] = ()
    outputs: tuple[str, ...] = ()
    flags: dict[str, object] = field(default_factory=dict)
    forwards: tuple[ForwardSpec, ...] = ()  # `-p`: local ports carried to the machine while attached
    nodes: int = 1  # machines the job runs on (`--nodes`; several: gang_run.py); one is the ordinary run
    all_nodes: bool = False  # with several: the other ranks' lines on stderr, prefixed
    gang_ssh: bool = False  # with several: rank 0 may ssh into the others for the job (remote/jobs/gang_ssh.py)


def agent_run_args(
    job_id: str, request: RunRequest, outputs: tuple[str, ...] = (), max_output_bytes: int | None = None
) -> list[str]:
    """`agent run` without what goes in the job spec on stdin (`job_spec_for`): the argv, env and cwd."""
    args = ["run", "--job-id", job_id, "--spec-stdin"]
    for glob in outputs:  # recorded in the job's meta.json: the agent's daemon pushes them to S3 (aws)
        args += ["--outputs", glob]
    if request.spec.max_time_s is not None:
        args += ["--max-time", f"{request.spec.max_time_s:g}"]
    if max_output_bytes is not None:
        args += ["--max-output", str(max_output_bytes)]
    return args


def job_spec_for(request: RunRequest, cwd: str) -> bytes:
    """The argv, environment and working directory as the bytes the user's OS gave them (`remote/jobs/spec`)."""
    from weatherballoon.remote.jobs.spec import SpecError, encode_spec

    try:
        return encode_spec(
            os.fsencode(cwd),
            [os.fsencode(word) for word in request.command],
            [(os.fsencode(key), os.fsencode(value)) for key, value in request.env],
        )
    except SpecError as exc:
        raise UsageError(str(exc)) from None


def remote_cwd(loaded: LoadedConfig, remote_root: str, cwd: Path) -> str:
    """The remote folder matching the one wb runs in: the root, or the same subfolder of it."""
    try:
        relative = cwd.resolve().relative_to(loaded.local_root)
    except (OSError, ValueError):  # run from outside the project (WB_CONFIG, sync.adirLocal elsewhere)
        return remote_root
    parts = relative.parts
    return remote_root if not parts else remote_root.rstrip("/") + "/" + "/".join(parts)


def run_job(app: App, request: RunRequest, *, early: Prefetch | None = None) -> int:
    try:
        provider = app.provider()
    except BaseException:
        if early is not None:
            early.discard()
        raise
    try:
        return _run(app, provider, request, early)
    finally:
        provider.close()


def _run(app: App, provider: Provider, request: RunRequest, early: Prefetch | None) -> int:
    loaded = provider.loaded
    outputs = tuple(dict.fromkeys((*loaded.config.sync.outputs, *request.outputs)))
    scanned = None
    if request.sync:
        refuse_unsafe_local_root(loaded.local_root, loaded.path)
        from ..sync.prepare import start_scan

        # Listing the project overlaps finding and reaching the machine (sync_up takes it, or redoes it).
        excludes = list(loaded.config.sync.file_excludes or [])
        scanned = start_scan(loaded.local_root, excludes=excludes, protect=list(outputs))
    identity = project_identity(loaded.local_root)
    mark("config loaded, provider ready")
    with spinner("finding a machine", quiet=app.quiet):
        held = warm_start.hold(provider, request.spec, early)
    instance = held.instance
    with provider.attached(instance), contextlib.ExitStack() as forwarding:
        with spinner(f"connecting to {instance.id}", quiet=app.quiet):
            if request.forwards:  # forwards need channels of their own: a direct connection, not the keeper's
                from ..session.connection import SshSession
                from ..session.forward import local_forwards

                direct = provider.session(instance, shared=False)
                assert isinstance(direct, SshSession)
                forwarding.enter_context(local_forwards(direct, request.forwards, app.say, app.warn))
            agent = provider.agent(instance)
        warm_start.remember(loaded, provider, held)
        mark("connected")
        remote_root = remote_root_for(loaded, identity)
        job_id = index.new_job_id()
        record = index.LocalJob(
            id=job_id,
            provider=provider.name,
            instance_id=instance.id,
            target=instance.target,
            remote_root=remote_root,
            command=request.command,
            outputs=outputs,
            local_root=str(loaded.local_root),
        )
        args = agent_run_args(job_id, request, outputs, loaded.config.supervision.max_output_bytes)
        args += provider.job_options(held)
        spec = job_spec_for(request, remote_cwd(loaded, remote_root, Path.cwd()))
        forward = None if request.detach else stdin_fd_to_forward()
        if forward is not None:
            args.append("--stdin")
        # Sync and job in one agent process where starting the job records nothing beyond this command.
        then_run = None
        if request.sync and not request.detach and held.how in (Obtained.REMEMBERED, Obtained.CONFIGURED):
            then_run = ThenRun([*args, "--follow"], spec)
            index.save(record)
            provider.job_started(held, record)
        if request.sync:
            from ..sync.client import sync_up

            with sync_bar(quiet=app.quiet) as progress, forget_unless_started(record, held, then_run):
                summary = sync_up(
                    agent,
                    loaded.local_root,
                    remote_root,
                    excludes=list(loaded.config.sync.file_excludes or []),
                    protect=list(outputs),
                    progress=progress,
                    owner=identity,
                    overwrite=loaded.config.sync.overwrite,
                    legacy_root=None if loaded.config.sync.adir_server else legacy_remote_root(loaded.local_root),
                    notice=app.say,
                    then_run=then_run,
                    scanned=scanned,
                )
            if summary.files_sent or summary.deleted:
                app.say(f"synced {summary.files_sent} files ({summary.bytes_sent} bytes), deleted {summary.deleted}")
        mark("synced")
        if then_run is None:
            index.save(record)
            provider.job_started(held, record)
        if request.detach:
            status, _out, err = agent.run(args, stdin=spec)
            if status == -1:
                raise ConnectionLost(f"lost the connection while starting job {job_id}", host=instance.id)
            if status != 0:
                raise job_command_failed(status, err, host=instance.id, job_id=job_id)
            sys.stdout.write(job_id + "\n")
            sys.stdout.flush()
            app.say(f"started on {instance.id}; follow with: wb logs -f {job_id}")
            return 0
        if then_run is not None and then_run.proc is not None:
            proc = cast("RemoteExec", then_run.proc)
        else:
            proc = agent([*args, "--follow"])
            proc.stdin.write(spec)
            proc.stdin.flush()

        def interrupt() -> None:
            provider.agent(instance).run(["signal", job_id, "INT"])  # the connection may be a resumed one
            app.warn(f"sent SIGINT to job {job_id}; press Ctrl-C again within 2 s to detach")

        mark("job started")
        held_stderr = then_run.held_stderr if then_run is not None else b""
        result = pump(proc, forward_stdin_fd=forward, on_first_interrupt=interrupt, header=STREAM_HEADER,
                      held_stderr=held_stderr)  # fmt: skip
        result = follow_past_tunnel_ends(provider, instance, job_id, result, agent.session, interrupt)
        mark("job ended")
        if result.output_closed:
            return stop_after_output_closed(agent, proc, job_id)
        if not result.detached and result.status != -1:
            provider.job_ended(held, record)
        if result.detached:
            app.warn(f"detached; job {job_id} keeps running. Reattach with: wb logs -f {job_id}")
            return 130
        if result.status == -1:
            reason = provider.job_stopped_reason(instance)
            if reason:
                raise SupervisionStop(f"supervision took the machine away: {reason}", reason=reason)
            raise ConnectionLost(
                f"lost the connection while job {job_id} was running{why_lost(agent)}", host=instance.id, job_id=job_id
            )
        if not result.streamed:
            raise job_command_failed(result.status, result.agent_stderr, host=instance.id, job_id=job_id)
        explain_supervision_stop(app, provider, instance, result.status)
        if outputs:
            fetch_outputs(app, provider, record)
            if provider.stores_outputs:
                report_upload(app, agent, record)
        return result.status


@contextlib.contextmanager
def forget_unless_started(record: index.LocalJob, held: Held, then_run: ThenRun | None) -> Iterator[None]:
    """Under `sync-run`, the job was recorded before its sync: a sync that fails started no job, so the
    record goes again, and the machine is not one this command ran a job on."""
    try:
        yield
    except BaseException:
        if then_run is not None:
            index.forget(record.id)
            held.job_started = False
        raise


def why_lost(agent: RemoteAgent) -> str:
    """`: the host stopped answering...` when the heartbeat gave up on it (a cut link says nothing more)."""
    silent = getattr(agent.session, "silent_for_s", None)
    if silent is None:
        return ""
    return f": the host stopped answering (nothing received for {silent:.0f} s, keepalives unanswered)"


def stop_after_output_closed(agent: RemoteAgent, proc: RemoteExec, job_id: str) -> int:
    """Our stdout's reader went away (`wb run ... | head -1`): end the job as a local pipeline would.

    The job's group gets SIGPIPE, which a writer in a local pipe gets on its next write. What is left of the
    group after PIPE_GRACE_S (Python ignores SIGPIPE, and on the machine writes to a file, not a pipe) gets
    SIGTERM. Then wb exits 141 (128 + SIGPIPE), quietly, like any Unix tool whose output closed.
    """
    with contextlib.suppress(WbError, OSError, EOFError):
        proc.close()  # nothing more of its output is wanted
        agent.run(["signal", job_id, "PIPE", "--then-term-after", f"{PIPE_GRACE_S:g}"])
    return EXIT_OUTPUT_CLOSED


def explain_supervision_stop(app: App, provider: Provider, instance: Instance, code: int) -> None:
    """Say why supervision took the machine away (budget, lease), if it did.

    A job the agent stopped (max-time, max-cost) already carries the agent's own `wb-agent:` line on stderr.
    """
    if code not in (124, -1):
        return
    reason = provider.job_stopped_reason(instance)
    if reason:
        app.warn(f"supervision stopped the job: {reason}")


def fetch_outputs(app: App, provider: Provider, record: index.LocalJob) -> None:
    from ..sync.pull import pull_outputs

    summary = pull_outputs(
        provider.agent(record.instance()),
        record.remote_root,
        list(record.outputs),
        Path(record.local_root),
    )
    if summary.files:
        app.say(f"outputs: {summary.files} files ({summary.bytes} bytes) into {record.local_root}")


def report_upload(app: App, agent: RemoteAgent, record: index.LocalJob) -> None:
    """Say when the agent could not upload the job's outputs to storage (waiting a little for its push)."""
    from .uploads import await_push

    state, failure = await_push(agent, record.id)
    if state == "failed":
        app.warn(
            f"job {record.id}: outputs {failure}. They were fetched from the machine above; once it ends, "
            "`wb pull` cannot find them"
        )
    elif state == "pending":
        app.say(f"job {record.id}: outputs still uploading to storage; `wb jobs` says if that fails")


def stdin_fd_to_forward() -> int | None:
    try:
        fd = sys.stdin.fileno() if sys.stdin is not None else None
    except (OSError, ValueError):
        return None
    if fd is None:
        return None
    try:
        os.fstat(fd)
    except OSError:
        return None
    return None if os.isatty(fd) else fd
