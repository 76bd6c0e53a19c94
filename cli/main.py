"""The `wb` entry point: a lazily loaded click group, and the one place errors become exit codes."""

from __future__ import annotations

import importlib
import os
import sys
from typing import NoReturn

import click

from .errors import EXIT_USAGE, ConnectError, WbError
from .shutdown import exit_now

# name -> (module, one-line help). Modules load only when their command runs, so `wb --help` stays instant.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "Sync, run a command remotely, stream its output, exit with its code."),
    "logs": ("logs", "Replay, then follow, a job's output."),
    "jobs": ("jobs", "List my jobs."),
    "status": ("status", "Show machines, their jobs, leases and costs."),
    "down": ("down", "Terminate machines."),
    "ssh": ("ssh", "Open a shell, or run a plain command, on a machine."),
    "pull": ("pull", "Fetch a job's outputs."),
    "ssh-config": ("ssh_config", "Print OpenSSH Host entries for my machines (ssh, scp, VS Code)."),
    "proxy": ("proxy", "Connect stdin/stdout to a machine's SSH port (OpenSSH's ProxyCommand)."),
    "config": ("config", "Show or validate the configuration."),
    "init": ("init", "Write a commented starter .weatherballoon.json."),
    "bootstrap": ("bootstrap", "Deploy the supervision stack into an AWS account (admin, once)."),
    "costs": ("costs", "Show the month's estimated spend per owner."),
    "budget": ("budget", "Show or set budgets (admin)."),
    "doctor": ("doctor", "Check credentials, the stack and the reaper."),
    "sandbox": ("sandbox", "An offline AWS: moto server, real sshd hosts and a reaper timer."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _module_exists(COMMANDS[name][0])]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None or not _module_exists(entry[0]):
            return None
        module = importlib.import_module(f"weatherballoon.cli.commands.{entry[0]}")
        command: click.Command = module.command
        return command

    def invoke(self, ctx: click.Context) -> object:
        # click turns any EOFError into Abort ("aborted", 130, as if the user had pressed Ctrl-C); an EOFError
        # out of a command is paramiko finding the SSH connection closed under it.
        try:
            return super().invoke(ctx)
        except EOFError as exc:
            raise ConnectError(
                "the SSH connection closed unexpectedly",
                hint="the server ended the session; run again, and check its sshd log if it keeps happening",
            ) from exc

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _module_exists(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(f"weatherballoon.cli.commands.{module}") is not None


def _version() -> str:
    from importlib.metadata import version

    return version("weatherballoon")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="weatherballoon", prog_name="wb", message="%(prog)s %(version)s")
@click.option("-q", "--quiet", is_flag=True, help="Silence wb's own messages (the command's output still flows).")
@click.pass_context
def cli(ctx: click.Context, quiet: bool) -> None:
    """Run any local command on cloud compute as if it ran locally.

    \b
      wb run -- python train.py --epochs 3
      wb run -d -- python train.py && wb logs -f JOB
    """
    from .app import App

    ctx.obj = App(quiet=quiet or os.environ.get("WB_QUIET") == "1")


def main(argv: list[str] | None = None) -> NoReturn:
    exit_now(run_cli(argv))


def run_cli(argv: list[str] | None = None) -> int:
    """Run wb and return the exit code; every error is turned into a message and a code here."""
    debug = os.environ.get("WB_DEBUG") == "1"
    from .trace import mark

    mark("cli imported")
    try:
        result = cli.main(args=argv, prog_name="wb", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except WbError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        click.echo(exc.render(), err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    except click.exceptions.Abort as exc:
        # From a Ctrl-C (click's own conversion keeps it as the cause), or a prompt the user declined.
        click.echo("wb: interrupted" if isinstance(exc.__cause__, KeyboardInterrupt) else "wb: aborted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("wb: interrupted", err=True)
        return 130
    except BrokenPipeError:
        # The reader of our stdout went away (e.g. `wb jobs | head`): like any Unix tool, stop quietly.
        sys.stderr.close()
        return 141
    except Exception as exc:
        if debug:
            raise
        click.echo(
            f"wb: internal error: {type(exc).__name__}: {exc}\n"
            "  hint: rerun with WB_DEBUG=1 for the traceback, and report it",
            err=True,
        )
        return 1
