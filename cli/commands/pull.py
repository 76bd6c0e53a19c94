"""wb pull JOB"""

from __future__ import annotations

from pathlib import Path

import click

from ..app import App
from ..flag_types import OutputGlob


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
    finally:
        handle.provider.close()
    app.say(f"pulled {summary.files} files ({summary.bytes} bytes) into {target}")
    if warning:
        app.warn(f"job {handle.record.id}: {warning}")
    return 0
