"""wb pull JOB"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..app import App
from ..flag_types import OutputGlob

if TYPE_CHECKING:
    from ..jobs.lookup import JobHandle


@click.command()
@click.argument("job_id", metavar="JOB")
@click.option("--to", "destination", type=click.Path(file_okay=False, path_type=Path), help="Local folder.")
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    type=OutputGlob(),
    metavar="GLOB",
    help="Globs instead of the job's outputs.",
)
@click.pass_obj
def command(app: App, job_id: str, destination: Path | None, outputs: tuple[str, ...]) -> int:
    """Fetch a job's outputs (its sync.outputs and -o globs), from the machine or from storage."""
    from ..errors import UsageError
    from ..jobs.lookup import open_job
    from ..jobs.pull import pull_job_outputs

    handle = open_job(app, job_id)
    globs = list(outputs or handle.record.outputs)
    if not globs:
        raise UsageError(
            f"job {handle.record.id} declared no outputs",
            hint="name them: wb pull JOB -o 'checkpoints/**', or set sync.outputs",
        )
    target = (destination or Path(handle.record.local_root or ".")).resolve()
    try:
        summary, warning = pull_job_outputs(handle, globs, target)
        app.say(f"pulled {summary.files} files ({summary.bytes} bytes) into {target}")
        if warning:
            app.warn(f"job {handle.record.id}: {warning}")
        for rank in range(1, len(handle.record.nodes)):  # a job on several machines: rank K's into rank-K/
            _pull_rank(app, handle, rank, globs, target)
    finally:
        handle.provider.close()
    return 0


def _pull_rank(app: App, handle: JobHandle, rank: int, globs: list[str], target: Path) -> None:
    from ..errors import WbError
    from ..jobs.gang_run import rank_output_folder
    from ..sync.pull import pull_outputs

    folder = rank_output_folder(target, rank)
    try:
        agent = handle.provider.agent(handle.record.node_instance(rank))
        summary = pull_outputs(agent, handle.record.remote_root, globs, folder)
    except WbError as exc:
        app.warn(f"job {handle.record.id}: rank {rank}'s outputs not pulled: {exc}")
        return
    app.say(f"rank {rank}: pulled {summary.files} files ({summary.bytes} bytes) into {folder}")
