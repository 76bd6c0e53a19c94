"""wb config show | wb config validate"""

from __future__ import annotations

import click

from ..app import App


@click.group()
def command() -> None:
    """Show or validate the configuration."""


@command.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def show(app: App, as_json: bool) -> int:
    """Print every key's effective value and where it came from (flag, env, file or default)."""
    from ..config.env import env_var_for
    from ..config.loader import effective_values
    from ..render.table import print_json, print_table

    loaded = app.config()
    values = effective_values(loaded)
    if as_json:
        sources = loaded.sources
        print_json({key: {"value": value, "source": sources.get(key, "default")} for key, value in values.items()})
        return 0
    rows = []
    for key, value in values.items():
        env = env_var_for(key)
        rows.append([key, "null" if value is None else value, loaded.sources.get(key, "default"), env or ""])
    print_table(["KEY", "VALUE", "SOURCE", "ENV"], rows, title=str(loaded.path or "(no file)"))
    app.say(f"local root: {loaded.local_root}")
    return 0


@command.command("validate")
@click.pass_obj
def validate(app: App) -> int:
    """Check the configuration file and the provider it names; exit 2 with the problems if invalid."""
    from ..providers.registry import provider_class

    loaded = app.config()
    provider_class(loaded.config.provisioner.kind)
    app.say(f"{loaded.path or 'environment'}: valid ({loaded.config.provisioner.kind} provider)")
    return 0
