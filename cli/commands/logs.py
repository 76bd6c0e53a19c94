"""wb logs JOB [-f]"""

from __future__ import annotations

import contextlib

import click

from ..app import App


@click.command()
@click.argument("job_id", metavar="JOB")
@click.option("-f", "--follow", is_flag=True, help="Follow until the job ends, then exit with its code.")
@click.pass_obj
def command(app: App, job_id: str, follow: bool) -> int:
    """Replay a job's output (stdout to stdout, stderr to stderr); with -f, follow it to the end."""
    from ..errors import ConnectionLost
    from ..jobs.attach import pump
    from ..jobs.lookup import AGENT_UNKNOWN_JOB, open_job
    from ..jobs.run_job import explain_supervision_stop

    handle = open_job(app, job_id)
    record = handle.record
    args = ["follow", record.id] if follow else ["follow", record.id, "--no-wait"]
    instance = handle.instance
    with handle.provider.attached(instance) if follow else contextlib.nullcontext():

        def interrupt() -> None:
            raise KeyboardInterrupt

        try:
            result = pump(handle.agent(args), forward_stdin_fd=None, on_first_interrupt=interrupt)
        except KeyboardInterrupt:
            app.warn(f"stopped following; job {record.id} keeps running")
            return 130
    if result.status == AGENT_UNKNOWN_JOB:
        from ..errors import JobNotFound

        raise JobNotFound(record.id, hint=f"{instance.id} has no record of it; see wb jobs")
    if result.status == -1:
        raise ConnectionLost(f"lost the connection while following job {record.id}", host=instance.id, job_id=record.id)
    if not follow:
        return 0
    explain_supervision_stop(app, handle.provider, instance, result.status)
    return result.status
