"""wb jobs"""

from __future__ import annotations

import click

from ..app import App


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many of the newest jobs."
)
@click.option("--all", "everyone", is_flag=True, help="The team's jobs, from the supervision table (aws).")
@click.pass_obj
def command(app: App, as_json: bool, limit: int, everyone: bool) -> int:
    """My jobs: id, instance, state, exit code, started, duration, command.

    Jobs this laptop started, and (aws) those the supervision table holds for my machines, wherever they were
    started. --all lists the team's from the table, with their owners.
    """
    from ..errors import UsageError
    from ..jobs.listing import job_lines
    from ..render.table import print_json, print_table

    if everyone:
        from ..providers.registry import provider_class

        kind = app.config().config.provisioner.kind
        if not provider_class(kind).records_jobs:
            raise UsageError(
                f"--all: the {kind} provider keeps no shared record of jobs; each laptop knows only its own",
                hint="wb jobs lists this laptop's jobs",
            )
    lines = job_lines(app, limit=limit, everyone=everyone)
    if as_json:
        print_json([line.__dict__ for line in lines])
        return 0
    headers = ["JOB", "INSTANCE", "STATE", "EXIT", "STARTED", "DURATION", "COMMAND"]
    rows = [line.cells() for line in lines]
    if everyone:
        headers.insert(1, "OWNER")
        rows = [[row[0], line.owner, *row[1:]] for row, line in zip(rows, lines, strict=True)]
    print_table(headers, rows)
    for line in lines:
        if line.upload_error:
            app.warn(f"job {line.id}: outputs {line.upload_error}")
    return 0
