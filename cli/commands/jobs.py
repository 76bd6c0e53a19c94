"""wb jobs"""

from __future__ import annotations

import click

from ..app import App


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many of the newest jobs."
)
@click.pass_obj
def command(app: App, as_json: bool, limit: int) -> int:
    """My jobs: id, instance, state, exit code, started, duration, command."""
    from ..jobs.listing import job_lines
    from ..render.table import print_json, print_table

    lines = job_lines(app, limit=limit)
    if as_json:
        print_json([line.__dict__ for line in lines])
        return 0
    print_table(
        ["JOB", "INSTANCE", "STATE", "EXIT", "STARTED", "DURATION", "COMMAND"],
        [line.cells() for line in lines],
    )
    for line in lines:
        if line.upload_error:
            app.warn(f"job {line.id}: outputs {line.upload_error}")
    return 0
