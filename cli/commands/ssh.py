"""wb ssh [INSTANCE] [-- COMMAND]"""

from __future__ import annotations

import shlex
import sys

import click

from ..app import App


@click.command(context_settings={"allow_interspersed_args": False})
@click.argument("instance_id", metavar="[INSTANCE]", required=False)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def command(app: App, instance_id: str | None, command: tuple[str, ...]) -> int:
    """Open a shell on a machine, or run a plain COMMAND there (not as a job)."""
    from ..errors import ConnectionLost, UsageError
    from ..jobs.attach import pump
    from ..jobs.run_job import stdin_fd_to_forward
    from ..providers.records import InstanceSpec
    from ..session.interactive import interactive_shell

    provider = app.provider()
    try:
        if instance_id:
            instance = provider.resolve(instance_id)
        else:
            instance = provider.acquire(InstanceSpec(instance_type=provider.config.provisioner.instance_type))
        with provider.attached(instance):
            session = provider.session(instance)
            if not command:
                if not sys.stdin.isatty():
                    raise UsageError("no command given and stdin is not a terminal", hint="wb ssh HOST -- COMMAND")
                return interactive_shell(session)
            line = command[0] if len(command) == 1 else shlex.join(command)
            proc = session.exec(line)

            def interrupt() -> None:
                raise KeyboardInterrupt

            result = pump(proc, forward_stdin_fd=stdin_fd_to_forward(), on_first_interrupt=interrupt)
            if result.status == -1:
                raise ConnectionLost("lost the connection", host=instance.id)
            return result.status
    finally:
        provider.close()
