"""wb logs JOB [-f]"""

from __future__ import annotations

import contextlib

import click

from ..app import App


@click.command()
@click.argument("job_id", metavar="JOB")
@click.option("-f", "--follow", is_flag=True, help="Follow until the job ends, then exit with its code.")
@click.option(
    "--node", "node", type=click.IntRange(0), default=0, metavar="K", help="A job on several machines: rank K's output."
)
@click.pass_obj
def command(app: App, job_id: str, follow: bool, node: int) -> int:
    """Replay a job's output (stdout to stdout, stderr to stderr); with -f, follow it to the end."""
    from weatherballoon.remote.agent_io import STREAM_HEADER

    from ..errors import ConnectionLost
    from ..jobs.agent_status import job_command_failed
    from ..jobs.attach import pump
    from ..jobs.lookup import open_job
    from ..jobs.resume import follow_past_tunnel_ends
    from ..jobs.run_job import explain_supervision_stop

    handle = open_job(app, job_id, rank=node)
    record = handle.record
    args = ["follow", record.id] if follow else ["follow", record.id, "--no-wait"]
    instance = handle.instance
    with handle.provider.attached(instance) if follow else contextlib.nullcontext():

        def interrupt() -> None:
            raise KeyboardInterrupt

        try:
            proc = handle.agent(args)
            session = handle.provider.agent(instance).session
            result = pump(proc, forward_stdin_fd=None, on_first_interrupt=interrupt, header=STREAM_HEADER)
            if follow:  # an expired tunnel is followed on from where it ended (jobs/resume.py)
                result = follow_past_tunnel_ends(handle.provider, instance, record.id, result, session, interrupt)
        except KeyboardInterrupt:
            app.warn(f"stopped following; job {record.id} keeps running")
            return 130
    if result.output_closed:
        return 141  # our reader went away (`wb logs JOB | head`): stop quietly; the job is not ours to stop
    if result.status == -1:
        raise ConnectionLost(f"lost the connection while following job {record.id}", host=instance.id, job_id=record.id)
    if not result.streamed:  # the agent never reached the job: the status is its own (agent_io)
        raise job_command_failed(result.status, result.agent_stderr, host=instance.id, job_id=record.id)
    if not follow:
        return 0
    explain_supervision_stop(app, handle.provider, instance, result.status)
    return result.status
