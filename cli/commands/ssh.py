"""wb ssh [INSTANCE] [-- COMMAND]"""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING

import click

from ..app import App

if TYPE_CHECKING:
    from ..providers.base import Provider
    from ..providers.records import Instance
    from ..session.connection import SshSession

from ..providers.records import UP_STATES


class _SshCommand(click.Command):
    """Remembers where `--` stood: `wb ssh [--launch] -- CMD` has no INSTANCE, `wb ssh HOST -- CMD` has one."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        before = args[: args.index("--")] if "--" in args else None
        if before is not None:
            before = _without_option_values(before)
        ctx.meta["wb_ssh_no_instance"] = before is not None and all(arg.startswith("-") for arg in before)
        return super().parse_args(ctx, args)


def _without_option_values(args: list[str]) -> list[str]:
    """The words before `--` less the values of options that take one (`-L SPEC`)."""
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        skip = arg in ("-L", "--local-forward")
        kept.append(arg)
    return kept


@click.command(cls=_SshCommand, context_settings={"allow_interspersed_args": False})
@click.option(
    "--launch",
    is_flag=True,
    help="With no INSTANCE: take a machine as `wb run` would (a warm one, else a new one) when none is up.",
)
@click.option(
    "-L",
    "--local-forward",
    "forwards",
    multiple=True,
    metavar="PORT:HOST:HOSTPORT",
    help="Forward 127.0.0.1:PORT here to HOST:HOSTPORT as the machine sees it (repeatable; localhost only).",
)
@click.argument("words", nargs=-1, type=click.UNPROCESSED, metavar="[INSTANCE] [-- COMMAND...]")
@click.pass_context
def command(ctx: click.Context, launch: bool, forwards: tuple[str, ...], words: tuple[str, ...]) -> int:
    """Open a shell on a machine, or run a plain COMMAND there (not as a job).

    With no INSTANCE: your only machine that is up (asked which when there are several). No machine is ever
    launched for it unless you pass --launch. With -L, the forwards stay open while the shell or COMMAND runs.
    """
    from ..session.forward import local_forwards, parse_forward

    app: App = ctx.obj
    specs = [parse_forward(text) for text in forwards]
    if ctx.meta.get("wb_ssh_no_instance"):
        instance_id, command = None, words
    else:
        instance_id, command = (words[0] if words else None), words[1:]
        if command[:1] == ("--",):  # click keeps a `--` that follows an argument: `wb ssh HOST -- CMD`
            command = command[1:]
    provider = app.provider()
    try:
        instance = provider.resolve(instance_id) if instance_id else _pick(provider, launch=launch)
        with provider.attached(instance):
            session = provider.session(instance)
            with local_forwards(session, specs, app.say, app.warn):
                return _shell_or_command(session, instance, command)
    finally:
        provider.close()


def _shell_or_command(session: SshSession, instance: Instance, command: tuple[str, ...]) -> int:
    from ..errors import ConnectionLost, UsageError
    from ..jobs.attach import pump
    from ..jobs.run_job import stdin_fd_to_forward
    from ..session.interactive import interactive_shell

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


def _pick(provider: Provider, *, launch: bool) -> Instance:
    """The machine for `wb ssh` without INSTANCE. Providers that launch machines (aws) never do so here
    unasked: the one machine of mine that is up, a choice among several (asked on a terminal, else refused
    with their ids), none refused unless --launch. Other providers' hosts are the user's own: the one
    `wb run` would pick."""
    from ..errors import UsageError
    from ..providers.records import InstanceSpec

    def acquired() -> Instance:
        from ..session.warm_start import hold

        spec = InstanceSpec(instance_type=provider.config.provisioner.instance_type)
        return hold(provider, spec, early=None).instance  # claimed (a remembered machine through its daemon)

    if not provider.launches_machines:
        return acquired()
    up = [instance for instance in provider.list_instances() if instance.state in UP_STATES]
    if len(up) == 1:
        return up[0]
    if not up:
        if launch:
            return acquired()
        raise UsageError(
            "no machine of yours is up, and `wb ssh` launches none unasked",
            hint="take one as `wb run` would (a warm one, else a new one) with: wb ssh --launch",
        )
    names = ", ".join(f"{instance.id} ({instance.state})" for instance in up)
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UsageError(f"{len(up)} machines of yours are up: {names}", hint="name one: wb ssh INSTANCE")
    for number, instance in enumerate(up, start=1):
        click.echo(f"  {number}. {instance.id} ({instance.state}, {instance.instance_type or '?'})", err=True)
    chosen: int = click.prompt("which machine?", type=click.IntRange(1, len(up)), err=True)
    return up[chosen - 1]
