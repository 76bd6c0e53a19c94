"""wb down [INSTANCE...] [--all] [--yes]"""

from __future__ import annotations

import sys

import click

from ..app import App


@click.command()
@click.argument("instance_ids", nargs=-1, metavar="[INSTANCE...]")
@click.option("--all", "everything", is_flag=True, help="Every machine of mine that is still up.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def command(app: App, instance_ids: tuple[str, ...], everything: bool, yes: bool) -> int:
    """Terminate machines: the named ones, or all of mine with --all. Running jobs on them end too.

    \b
      wb down i-0abc123
      wb down --all --yes
    """
    from ..errors import UsageError

    if bool(instance_ids) == everything:
        raise UsageError("name the machines to terminate, or pass --all (not both)", hint="see them with: wb status")
    provider = app.provider()
    try:
        if everything:
            targets = [i for i in provider.list_instances() if i.state not in ("terminated", "shutting-down")]
            if not targets:
                app.say("no machines of yours are up")
                return 0
        else:
            targets = [provider.resolve(instance_id) for instance_id in dict.fromkeys(instance_ids)]
        if not yes:
            listing = ", ".join(
                f"{i.id} ({i.state}{', ' + str(len(i.running_jobs)) + ' running job(s)' if i.running_jobs else ''})"
                for i in targets
            )
            if sys.stdin.isatty():
                click.confirm(f"Terminate {listing}?", abort=True, err=True)
            elif everything:
                raise UsageError(f"--all would terminate {listing}; pass --yes to confirm")
        done = provider.terminate(targets)
    finally:
        provider.close()
    for instance_id in done:
        app.say(f"terminating {instance_id}")
    return 0
