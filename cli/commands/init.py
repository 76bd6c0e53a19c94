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
    import os

    from ..config.loader import FILE_NAME, load_config
    from ..config.model import HOST_PATTERN
    from ..config.starter import starter_text
    from ..errors import UsageError

    for host in hosts:
        match = HOST_PATTERN.match(host)
        if not match or (match["port"] and not 0 < int(match["port"]) < 65536):
            raise UsageError(f"--host {host!r} is not of the form user@host:port", hint="e.g. --host ubuntu@gpu-1:22")
    target = Path.cwd() / FILE_NAME
    if os.path.lexists(target) and not force:
        raise UsageError(f"{target} already exists", hint="edit it, or rerun with --force to overwrite it")
    text = starter_text(kind=kind, hosts=list(hosts))
    tmp = target.with_name(f".{FILE_NAME}.tmp")
    try:
        tmp.write_text(text)
        # Checked before it takes the real name: a file wb itself would refuse is never left behind.
        load_config(cwd=target.parent, environ={"WB_CONFIG": str(tmp)}, use_cache=False)
        tmp.replace(target)
    except OSError as exc:
        raise UsageError(
            f"cannot write {target}: {exc.strerror or exc}", hint="run wb init in a folder you can write"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    app.say(f"wrote {target}; check it with: wb config show")
    return 0
