"""wb init"""

from __future__ import annotations

from pathlib import Path

import click

from ..app import App


@click.command()
@click.option("--kind", type=click.Choice(["ssh", "aws"]), default="ssh", show_default=True)
@click.option("--host", "hosts", multiple=True, metavar="USER@HOST:PORT", help="ssh provider hosts (repeatable).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_obj
def command(app: App, kind: str, hosts: tuple[str, ...], force: bool) -> int:
    """Write a commented starter .weatherballoon.json in the current folder."""
    from ..config.loader import FILE_NAME, load_config
    from ..config.starter import starter_text
    from ..errors import UsageError

    target = Path.cwd() / FILE_NAME
    if target.exists() and not force:
        raise UsageError(f"{target} already exists", hint="edit it, or rerun with --force to overwrite it")
    text = starter_text(kind=kind, hosts=list(hosts))
    tmp = target.with_name(f".{FILE_NAME}.tmp")
    tmp.write_text(text)
    tmp.replace(target)
    load_config(cwd=target.parent, environ={"WB_CONFIG": str(target)})
    app.say(f"wrote {target}; check it with: wb config show")
    return 0
