"""`wb run --nodes N`: one job on N machines that starts, streams and ends as one (docs/multinode.md).

The same steps as a one-machine run (run_job.py), for a gang: the provider holds N machines
(`acquire_gang`, rank 0 first); the project is synced to rank 0 and fanned out from there (sync/fanout.py);
rank 0's agent names a free rendezvous port and a free port for the gang link; every rank's job gets the
environment contract (gang_env.py) and joins the gang link (remote/jobs/gang.py), which ends all ranks when
one fails. Ranks 1..N-1 start detached, then rank 0 is started and followed: its stdout and stderr reach the
terminal byte-exact, and its exit code is the gang's (the first failing rank's code, or 0). Outputs come
back from every rank: rank 0's into the project, rank K's under `rank-K/`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from weatherballoon.remote.agent_io import STREAM_HEADER

from ..errors import ConnectError, ConnectionLost, SupervisionStop, WbError
from ..render.progress import spinner, sync_bar
from ..sync.local_scan import refuse_unsafe_local_root
from ..sync.ownership import legacy_remote_root, project_identity
from ..trace import mark
from . import index
from .agent_status import job_command_failed
from .attach import pump
from .gang_env import LOST_CODE, GangLayout, gang_run_options, rank_env
from .remote_paths import remote_root_for
from .run_job import (
    EXIT_OUTPUT_CLOSED,
    PIPE_GRACE_S,
    RunRequest,
    agent_run_args,
    explain_supervision_stop,
    job_spec_for,
    remote_cwd,
    stdin_fd_to_forward,
    why_lost,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..app import App
    from ..config.model import LoadedConfig
    from ..providers.base import Provider
    from ..providers.held import Held
    from ..providers.records import Instance
    from ..session.agent import RemoteAgent
    from ..session.prefetch import Prefetch
    from ..sync.ownership import ProjectIdentity


FOLLOWER_FLUSH_S = 2.0


def rank_output_folder(local_root: Path, rank: int) -> Path:
    """Where rank `rank`'s outputs land locally: the project for rank 0, `rank-K/` in it for the others."""
    return local_root if rank == 0 else local_root / f"rank-{rank}"


def run_gang_job(app: App, request: RunRequest, *, early: Prefetch | None = None) -> int:
    """`run_job` for several machines."""
    if early is not None:
        early.discard()  # it reaches this project's last single machine, not a gang
    provider = app.provider()
    try:
        return run_gang(app, provider, request)
    finally:
        provider.close()


def run_gang(app: App, provider: Provider, request: RunRequest) -> int:
    loaded = provider.loaded
    outputs = tuple(dict.fromkeys((*loaded.config.sync.outputs, *request.outputs)))
    if request.sync:
        refuse_unsafe_local_root(loaded.local_root, loaded.path)
    identity = project_identity(loaded.local_root)
    nodes = request.nodes
    with spinner(f"finding {nodes} machines", quiet=app.quiet):
        helds = provider.acquire_gang(request.spec, nodes)
    instances = [held.instance for held in helds]
    labels = [instance.id for instance in instances]
    with contextlib.ExitStack() as attached:
        for instance in instances:
            attached.enter_context(provider.attached(instance))
        with spinner(f"connecting to {nodes} machines", quiet=app.quiet):
            agents = _connect_all(provider, instances)
        mark("connected")
        remote_root = remote_root_for(loaded, identity)
        addresses = tuple(provider.peer_address(instance) for instance in instances)
        if request.sync:
            _sync_everywhere(app, agents, labels, loaded, identity, remote_root, outputs, addresses[0])
        mark("synced")
        layout = _layout(agents[0], labels[0], addresses)
        if request.gang_ssh:
            from .gang_ssh_keys import gang_ssh_keys

            layout = dataclasses.replace(layout, ssh=gang_ssh_keys(agents, labels, addresses))
        job_id = index.new_job_id()
        record = index.LocalJob(
            id=job_id,
            provider=provider.name,
            instance_id=instances[0].id,
            target=instances[0].target,
            remote_root=remote_root,
            command=request.command,
            outputs=outputs,
            local_root=str(loaded.local_root),
            nodes=tuple(index.GangNode(instance_id=item.id, target=item.target) for item in instances),
        )
        index.save(record)
        for held in helds:
            provider.job_started(held, record)
        cwd = remote_cwd(loaded, remote_root, Path.cwd())
        base = agent_run_args(job_id, request, outputs, loaded.config.supervision.max_output_bytes)

        def start_args(rank: int) -> list[str]:
            return [*base, *provider.job_options(helds[rank]), *gang_run_options(layout, rank)]

        def spec_for(rank: int) -> bytes:
            return job_spec_for(dataclasses.replace(request, env=(*rank_env(layout, rank), *request.env)), cwd)

        _start_members(agents, labels, job_id, start_args, spec_for)
        return _run_rank0(app, provider, request, helds, agents, labels, record, start_args(0), spec_for(0))


def _connect_all(provider: Provider, instances: list[Instance]) -> list[RemoteAgent]:
    """An agent on every machine, connected side by side; the first failure is raised naming its host."""
    with ThreadPoolExecutor(max_workers=min(16, len(instances))) as pool:
        futures = [pool.submit(provider.agent, instance) for instance in instances]
        return [future.result() for future in futures]


def _sync_everywhere(
    app: App,
    agents: list[RemoteAgent],
    labels: list[str],
    loaded: LoadedConfig,
    identity: ProjectIdentity,
    remote_root: str,
    outputs: tuple[str, ...],
    rank0_address: str,
) -> None:
    from ..sync.client import sync_up
    from ..sync.fanout import fan_out

    sync = loaded.config.sync
    # Rank K's outputs, pulled into rank-K/, are outputs too: never uploaded again.
    protect = [*outputs, *(f"rank-*/{glob}" for glob in outputs)]
    with sync_bar(quiet=app.quiet) as progress:
        summary = sync_up(
            agents[0],
            loaded.local_root,
            remote_root,
            excludes=list(sync.file_excludes or []),
            protect=protect,
            progress=progress,
            owner=identity,
            overwrite=sync.overwrite,
            legacy_root=None if sync.adir_server else legacy_remote_root(loaded.local_root),
            notice=app.say,
        )
    if summary.files_sent or summary.deleted:
        app.say(f"synced {summary.files_sent} files ({summary.bytes_sent} bytes), deleted {summary.deleted}")
    with spinner(f"fanning out to {len(agents) - 1} ranks", quiet=app.quiet):
        fanned = fan_out(agents, labels, remote_root, rank0_address)
    app.say(
        f"fanned out {fanned.bytes_served / 1e6:.1f} MB from rank 0 to {fanned.ranks} ranks in {fanned.seconds:.1f} s"
    )


def _layout(agent: RemoteAgent, label: str, addresses: tuple[str, ...]) -> GangLayout:
    import json

    status, out, err = agent.run(["gang-probe", "--ports", "2"])
    try:
        report = json.loads(out.decode("ascii"))
        master_port, hub_port = (int(port) for port in report["ports"])
        gpus = int(report["gpus"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        said = err.decode("utf-8", "replace").strip()
        raise ConnectError(
            f"rank 0 did not say which ports are free (exit {status}): {said or out[:200]!r}", host=label
        ) from None
    return GangLayout(addresses, master_port, hub_port, gpus, secrets.token_hex(16))


def _start_members(
    agents: list[RemoteAgent],
    labels: list[str],
    job_id: str,
    start_args: Callable[[int], list[str]],
    spec_for: Callable[[int], bytes],
) -> None:
    """Start ranks 1..N-1 detached; when one cannot start, stop those that did and raise for it."""

    def start(rank: int) -> tuple[int, int, bytes]:
        try:
            status, _out, err = agents[rank].run(start_args(rank), stdin=spec_for(rank))
        except WbError as exc:
            return rank, -1, str(exc).encode()
        return rank, status, err

    with ThreadPoolExecutor(max_workers=min(16, len(agents))) as pool:
        results = list(pool.map(start, range(1, len(agents))))
    failed = [item for item in results if item[1] != 0]
    if not failed:
        mark("ranks 1.. started")
        return
    started = [rank for rank, status, _ in results if status == 0]
    signal_ranks(agents, started, job_id, "TERM")
    rank, status, err = failed[0]
    if status == -1:
        raise ConnectionLost(f"lost the connection while starting rank {rank} of job {job_id}", host=labels[rank])
    raise job_command_failed(status, err, host=labels[rank], job_id=job_id)


def signal_ranks(agents: list[RemoteAgent], ranks: list[int], job_id: str, name: str, *extra: str) -> None:
    """Send a signal to the job on each of `ranks`, side by side; a rank that cannot be reached is skipped
    (its gang link ends it: remote/jobs/gang.py)."""

    def send(rank: int) -> None:
        with contextlib.suppress(WbError, OSError, EOFError):
            agents[rank].run(["signal", job_id, name, *extra])

    if not ranks:
        return
    with ThreadPoolExecutor(max_workers=min(16, len(ranks))) as pool:
        list(pool.map(send, ranks))


def _run_rank0(
    app: App,
    provider: Provider,
    request: RunRequest,
    helds: list[Held],
    agents: list[RemoteAgent],
    labels: list[str],
    record: index.LocalJob,
    args: list[str],
    spec: bytes,
) -> int:
    job_id = record.id
    others = list(range(1, len(agents)))
    agent = agents[0]
    if request.detach:
        status, _out, err = agent.run(args, stdin=spec)
        if status != 0:
            signal_ranks(agents, others, job_id, "TERM")
            if status == -1:
                raise ConnectionLost(f"lost the connection while starting job {job_id}", host=labels[0])
            raise job_command_failed(status, err, host=labels[0], job_id=job_id)
        sys.stdout.write(job_id + "\n")
        sys.stdout.flush()
        app.say(f"started on {len(agents)} machines (rank 0: {labels[0]}); follow with: wb logs -f {job_id}")
        return 0
    forward = stdin_fd_to_forward()
    if forward is not None:
        args = [*args, "--stdin"]
    proc = agent([*args, "--follow"])
    proc.stdin.write(spec)
    proc.stdin.flush()
    followers = [follow_with_prefix(agents[rank], job_id, rank) for rank in others] if request.all_nodes else []

    def interrupt() -> None:
        signal_ranks(agents, list(range(len(agents))), job_id, "INT")
        app.warn(f"sent SIGINT to job {job_id} on all {len(agents)} ranks; press Ctrl-C again within 2 s to detach")

    mark("job started")
    result = pump(proc, forward_stdin_fd=forward, on_first_interrupt=interrupt, header=STREAM_HEADER)
    mark("job ended")
    if result.output_closed:
        with contextlib.suppress(WbError, OSError, EOFError):
            proc.close()
        signal_ranks(agents, list(range(len(agents))), job_id, "PIPE", "--then-term-after", f"{PIPE_GRACE_S:g}")
        return EXIT_OUTPUT_CLOSED
    if result.detached:
        app.warn(f"detached; job {job_id} keeps running on {len(agents)} machines. Reattach with: wb logs -f {job_id}")
        return 130
    if result.status == -1:
        reason = provider.job_stopped_reason(helds[0].instance)
        if reason:
            raise SupervisionStop(f"supervision took the machine away: {reason}", reason=reason)
        raise ConnectionLost(
            f"lost the connection to rank 0 while job {job_id} was running{why_lost(agent)}; the other ranks stop"
            " on their own when rank 0's machine is gone",
            host=labels[0],
            job_id=job_id,
        )
    if not result.streamed:
        signal_ranks(agents, others, job_id, "TERM")
        raise job_command_failed(result.status, result.agent_stderr, host=labels[0], job_id=job_id)
    for held in helds:
        provider.job_ended(held, record)
    flush_until = time.monotonic() + FOLLOWER_FLUSH_S
    for follower in followers:  # what the live ranks printed last; a dead rank's follower is not waited for
        follower.join(timeout=max(0.0, flush_until - time.monotonic()))
    explain_supervision_stop(app, provider, helds[0].instance, result.status)
    if record.outputs:
        fetch_gang_outputs(app, agents, record)
    return result.status


def fetch_gang_outputs(app: App, agents: list[RemoteAgent], record: index.LocalJob) -> None:
    """Every rank's outputs, side by side: rank 0's into the project, rank K's into `rank-K/`, so equal paths
    never collide. A rank whose machine the gang lost (rank 0 says so) is not waited on."""
    from ..session.agent_jobs import job_status
    from ..sync.pull import pull_outputs

    local_root = Path(record.local_root)
    ranks = list(range(len(agents)))
    with contextlib.suppress(WbError):
        job = job_status(agents[0], record.id)
        lost = job.gang if job is not None else None
        if lost is not None and lost.code == LOST_CODE and lost.rank in ranks:
            ranks.remove(lost.rank)
            app.warn(f"rank {lost.rank}: {lost.reason}; its outputs were not fetched")

    def fetch(rank: int) -> str:
        destination = rank_output_folder(local_root, rank)
        try:
            summary = pull_outputs(agents[rank], record.remote_root, list(record.outputs), destination)
        except WbError as exc:
            return f"!rank {rank}: outputs not fetched: {exc}; try again with: wb pull {record.id}"
        if not summary.files:
            return ""
        return f"rank {rank} outputs: {summary.files} files ({summary.bytes} bytes) into {destination}"

    if not ranks:
        return
    with ThreadPoolExecutor(max_workers=min(16, len(ranks))) as pool:
        for line in pool.map(fetch, ranks):
            if line.startswith("!"):
                app.warn(line[1:])
            elif line:
                app.say(line)


def follow_with_prefix(agent: RemoteAgent, job_id: str, rank: int) -> threading.Thread:
    """Copy rank `rank`'s stdout and stderr lines to our stderr, each line prefixed `[rank K] ` (--all-nodes)."""
    prefix = f"[rank {rank}] ".encode()
    lock = _STDERR_LOCK

    def copy(stream: object, strip_header: bool) -> None:
        first = strip_header
        with contextlib.suppress(OSError, EOFError, WbError, ValueError):
            for line in iter(stream.readline, b""):  # type: ignore[attr-defined]
                if first:
                    first = False
                    if line == STREAM_HEADER:
                        continue
                with lock:
                    sys.stderr.buffer.write(prefix + line + (b"" if line.endswith(b"\n") else b"\n"))
                    sys.stderr.buffer.flush()

    def run() -> None:
        with contextlib.suppress(WbError, OSError, EOFError):
            proc = agent(["follow", job_id])
            err = threading.Thread(target=copy, args=(proc.stderr, False), daemon=True)
            err.start()
            copy(proc.stdout, True)
            err.join(timeout=5)

    thread = threading.Thread(target=run, name=f"wb-rank-{rank}", daemon=True)
    thread.start()
    return thread


_STDERR_LOCK = threading.Lock()
