"""wb sandbox up [--reaper-period S] [--lease-minutes M] [--idle-minutes M] [--no-stack] [--tunnel-max-seconds S]
| env | status | down

A thin command: the sandbox is its own package, `weatherballoon.sandbox` (the folder `sandbox/`), imported only
when a subcommand runs; its third-party packages come with the `[sandbox]` extra."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from weatherballoon.lambdas import limits

from ..app import App
from ..errors import UsageError
from ..flag_types import LimitedFloat

INSTALL = "pip install 'weatherballoon[sandbox]'"
EXTRA_MODULES = ("moto", "flask", "aws_lambda_powertools")  # what the [sandbox] extra installs

# The stack's own minimum lease (its LeaseMinutes MinValue) and a reaper period of half a second to a day.
LEASE_MINUTES = limits.Range(0.1, limits.LEASE_MINUTES.high, "minutes")
REAPER_PERIOD_S = limits.Range(0.5, 86400, "seconds")


@contextmanager
def sandbox_extra() -> Iterator[None]:
    """Around the imports of `weatherballoon.sandbox`: a missing sandbox or extra is a usage error (exit 2)."""
    try:
        yield
    except ModuleNotFoundError as exc:
        name = exc.name or ""
        if not (name == "weatherballoon.sandbox" or name.startswith("weatherballoon.sandbox.")) and (
            name.split(".")[0] not in EXTRA_MODULES
        ):
            raise
        raise UsageError(f"wb sandbox needs the sandbox extra, and {name} is not installed", hint=INSTALL) from None


@click.group()
def command() -> None:
    """An offline AWS: a moto server, the stack deployed by `wb bootstrap`, the reaper on a timer, and a real
    sshd host (a network namespace at its private IP) for every instance launched.

    \b
      wb sandbox up --reaper-period 2 --lease-minutes 0.2 --idle-minutes 0.1
      eval "$(wb sandbox env)"
      wb run -- python3 -c "print('hello from the cloud')"
      wb sandbox status
      wb sandbox down
    """


@command.command()
@click.option("--reaper-period", type=LimitedFloat(REAPER_PERIOD_S), default=60.0, show_default=True, metavar="SECONDS",
              help="How often the reaper handler runs.")  # fmt: skip
@click.option("--lease-minutes", type=LimitedFloat(LEASE_MINUTES), default=5.0, show_default=True, metavar="M",
              help="Lease horizon (stack parameter and supervision.leaseMinutes); 0.1 is 6 s.")  # fmt: skip
@click.option("--idle-minutes", type=LimitedFloat(limits.IDLE_MINUTES), default=10.0, show_default=True, metavar="M",
              help="Keep-warm time after the last job (stack parameter and supervision.idleMinutes).")  # fmt: skip
@click.option("--no-stack", is_flag=True,
              help="Deploy no wb stack: a new account, for `wb bootstrap` or `wb doctor --live`.")  # fmt: skip
@click.option("--tunnel-max-seconds", type=click.FloatRange(min=1, max=3600), metavar="S",
              help="The Instance Connect Endpoint ends every tunnel after S seconds (a fault to try).")  # fmt: skip
@click.pass_obj
def up(
    app: App,
    reaper_period: float,
    lease_minutes: float,
    idle_minutes: float,
    no_stack: bool,
    tunnel_max_seconds: float | None,
) -> int:
    """Start the sandbox in the background (it outlives this terminal)."""
    with sandbox_extra():
        from weatherballoon.sandbox.control import up as start
        from weatherballoon.sandbox.records import SandboxOptions

    options = SandboxOptions(
        reaper_period_s=reaper_period,
        lease_minutes=lease_minutes,
        idle_minutes=idle_minutes,
        stack=not no_stack,
        tunnel_max_s=tunnel_max_seconds,
    )
    state = start(options, app.say)
    app.say(f"sandbox {state.sandbox_id} is up: AWS at {state.endpoint}, reaper every {reaper_period:g} s")
    app.say('next: eval "$(wb sandbox env)", then wb run -- COMMAND; `wb sandbox down` removes it all')
    return 0


@command.command()
def env() -> int:
    """Print the export lines that point wb (and any AWS tool) at the sandbox."""
    with sandbox_extra():
        from weatherballoon.sandbox.control import running_state
        from weatherballoon.sandbox.layout import Layout
        from weatherballoon.sandbox.settings import env_lines

    sys.stdout.write("\n".join(env_lines(running_state(Layout.default()))) + "\n")
    return 0


@command.command()
def status() -> int:
    """Show the sandbox, its reaper and its hosts (exit 1 when it is not running)."""
    with sandbox_extra():
        from weatherballoon.sandbox import control
        from weatherballoon.sandbox.errors import SandboxError
        from weatherballoon.sandbox.layout import Layout
        from weatherballoon.sandbox.status import show

    layout = Layout.default()
    state = control.load_state(layout)
    if state is None:
        raise SandboxError("no sandbox is running", hint="start one with: wb sandbox up")
    alive = control.daemon_alive(state)
    show(state, alive, control.reaper(layout), control.hosts(layout), layout)
    return 0 if alive and state.phase == "ready" else 1


@command.command()
@click.pass_obj
def down(app: App) -> int:
    """Stop the sandbox and remove its hosts, account and moto server (safe to repeat)."""
    with sandbox_extra():
        from weatherballoon.sandbox.control import down as stop

    if stop(app.say):
        app.say("sandbox down")
    else:
        app.say("no sandbox is running")
    return 0
