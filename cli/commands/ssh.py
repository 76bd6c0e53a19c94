"""wb ssh [INSTANCE] [-- COMMAND]"""

from __future__ import annotations

import shlex
import sys

import click

from ..app import App


class _SshCommand(click.Command):
    """Remembers where `--` stood: `wb ssh -- CMD` has no INSTANCE, `wb ssh HOST -- CMD` has one."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["wb_ssh_split"] = args.index("--") if "--" in args else None
        return super().parse_args(ctx, args)


@click.command(cls=_SshCommand, context_settings={"allow_interspersed_args": False})
@click.argument("words", nargs=-1, type=click.UNPROCESSED, metavar="[INSTANCE] [-- COMMAND...]")
@click.pass_context
def command(ctx: click.Context, words: tuple[str, ...]) -> int:
    """Open a shell on a machine, or run a plain COMMAND there (not as a job)."""
    app: App = ctx.obj
    split = ctx.meta.get("wb_ssh_split")
    if split == 0:
        instance_id, command = None, words
    else:
        instance_id, command = (words[0] if words else None), words[1:]
        if command[:1] == ("--",):  # click keeps a `--` that follows an argument: `wb ssh HOST -- CMD`
            command = command[1:]
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
