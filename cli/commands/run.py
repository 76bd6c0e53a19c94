"""wb run [OPTIONS] -- COMMAND [ARG...]"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from weatherballoon.lambdas.limits import JOB_MAX_COST_USD

from ..app import App
from ..durations import DurationType
from ..flag_types import LimitedFloat, OutputGlob

if TYPE_CHECKING:
    from ..session.prefetch import Prefetch

MAX_NODES = 64  # a gang's size; the gang link and the fan-out are sized for tens of machines, not thousands


def _env_pair(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key or not key.replace("_", "a").isalnum():
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", ctx=ctx, param=param)
        pairs.append((key, rest))
    return tuple(pairs)


@click.command(context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Start the job, print its id on stdout and return.")
@click.option("--no-sync", is_flag=True, help="Skip the upload of the working directory.")
@click.option("-t", "--instance-type", help="Override provisioner.instanceType.")
@click.option("--spot/--on-demand", default=None, help="Use spot capacity (falls back to on-demand).")
@click.option("--fresh", is_flag=True, help="Never reuse a warm machine.")
@click.option("--max-time", type=DurationType(), help="Hard cap for this job: 90s, 45m, 2h.")
@click.option("--max-cost", type=LimitedFloat(JOB_MAX_COST_USD), metavar="USD", help="Hard cap in USD for this job.")
@click.option("-e", "--env", "env", multiple=True, callback=_env_pair, metavar="KEY=VALUE", help="Repeatable.")
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    type=OutputGlob(),
    metavar="GLOB",
    help="Repeatable; adds to sync.outputs.",
)
@click.option(
    "--sync-overwrite",
    is_flag=True,
    help="Let the sync replace files no sync of this project put in its remote folder, or take over a folder"
    " another project synced to (sync.overwrite).",
)
@click.option(
    "-p",
    "--port",
    "ports",
    multiple=True,
    metavar="PORT",
    help="Forward 127.0.0.1:PORT here to the machine's localhost:PORT while the job runs (repeatable).",
)
@click.option(
    "--nodes",
    type=click.IntRange(1, MAX_NODES),
    default=1,
    show_default=True,
    help="Run on this many machines as one gang (docs/multinode.md).",
)
@click.option("--all-nodes", is_flag=True, help="With --nodes: show the other ranks' lines on stderr, prefixed.")
@click.option(
    "--gang-ssh",
    is_flag=True,
    help="With --nodes: rank 0 may ssh into the other ranks while the job runs, for mpirun (docs/multinode.md).",
)
@click.option("-q", "--quiet", is_flag=True, help="Silence wb's own notices.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def command(
    app: App,
    quiet: bool,
    detach: bool,
    no_sync: bool,
    instance_type: str | None,
    spot: bool | None,
    fresh: bool,
    max_time: float | None,
    max_cost: float | None,
    env: tuple[tuple[str, str], ...],
    outputs: tuple[str, ...],
    sync_overwrite: bool,
    ports: tuple[str, ...],
    nodes: int,
    all_nodes: bool,
    gang_ssh: bool,
    command: tuple[str, ...],
) -> int:
    """Sync the working directory, run COMMAND on a machine, stream its output, exit with its code.

    \b
      wb run -- python train.py --epochs 3
      wb run -d --max-time 2h -- python train.py
      wb run --nodes 3 -- torchrun --nnodes $NNODES ... train.py   (docs/multinode.md)
    """
    from ..errors import UsageError
    from ..paths import data_dir
    from ..session.forward import same_port

    forwards = tuple(same_port(port) for port in ports)
    if forwards and detach:
        raise UsageError("-p forwards a port while wb stays attached; with -d nothing would hold it open",
                         hint="drop -d, or forward later with: wb ssh -L PORT:localhost:PORT INSTANCE")  # fmt: skip
    if all_nodes and nodes == 1:
        raise UsageError("--all-nodes shows the other ranks of a job on several machines", hint="add --nodes N")
    if gang_ssh and nodes == 1:
        raise UsageError("--gang-ssh lets rank 0 of a job on several machines log in to the others",
                         hint="add --nodes N")  # fmt: skip
    data_dir()  # the job is recorded there: an unusable folder fails now, before any work
    early = _start_prefetch()
    from ..jobs.run_job import RunRequest, run_job
    from ..providers.records import InstanceSpec

    app.quiet = app.quiet or quiet

    flags: dict[str, object] = {}
    if instance_type:
        flags["provisioner.instanceType"] = (instance_type, "flag --instance-type")
    if spot is not None:
        flags["provisioner.spot"] = (spot, "flag --spot" if spot else "flag --on-demand")
    if sync_overwrite:
        flags["sync.overwrite"] = (True, "flag --sync-overwrite")
    loaded = app.config(flags)
    provisioner = loaded.config.provisioner
    _check_cost_cap(app, provisioner.kind, max_cost, loaded.config.supervision.max_cost_usd)
    spec = InstanceSpec(
        instance_type=provisioner.instance_type,
        spot=provisioner.spot,
        fresh=fresh,
        region=provisioner.region,
        max_time_s=max_time,
        max_cost_usd=max_cost if max_cost is not None else loaded.config.supervision.max_cost_usd,
    )
    request = RunRequest(
        command=command,
        spec=spec,
        detach=detach,
        sync=not no_sync,
        env=env,
        outputs=outputs,
        flags=flags,
        nodes=nodes,
        all_nodes=all_nodes,
        gang_ssh=gang_ssh,
        forwards=forwards,
    )
    if nodes > 1:
        from ..jobs.gang_run import run_gang_job

        return run_gang_job(app, request, early=early)
    return run_job(app, request, early=early)


def _check_cost_cap(app: App, kind: str, flag: float | None, configured: float | None) -> None:
    """A cost cap that nothing would enforce is refused when asked for by flag, and warned about when it
    comes from the config (which may serve other providers too): never silently ignored."""
    from ..providers.registry import provider_class

    if (flag is None and configured is None) or provider_class(kind).enforces_max_cost:
        return
    why = f"the {kind} provider cannot enforce a cost cap: it knows no price for its machines"
    if flag is not None:
        from ..errors import UsageError

        raise UsageError(f"--max-cost: {why}", hint="bound the job with --max-time instead")
    app.warn(f"supervision.maxCostUsd is not enforced: {why}; --max-time bounds a job")


def _start_prefetch() -> Prefetch | None:
    """Begin connecting to the last machine before the config is validated (see session/prefetch.py)."""
    import os
    from pathlib import Path

    from ..config.discovery import find_config_file
    from ..config.identity import config_identity
    from ..errors import WbError
    from ..session import prefetch

    try:
        cwd = Path.cwd()
        return prefetch.start(config_identity(find_config_file(cwd, os.environ), os.environ, cwd))
    except (WbError, OSError):
        return None
