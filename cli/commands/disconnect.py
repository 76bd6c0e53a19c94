"""wb disconnect [MACHINE|--all]"""

from __future__ import annotations

import click

from ..app import App


@click.command()
@click.argument("machine", required=False)
@click.option("--all", "everything", is_flag=True, help="End every connection the keeper holds for you.")
@click.pass_obj
def command(app: App, machine: str | None, everything: bool) -> int:
    """End warm connections held by the connection keeper (provisioner.keepConnectionMinutes).

    With no MACHINE: the only one held (asked to name it when there are several). Jobs on the machine run
    on; the next command connects afresh. --all also ends the warm client (wb imported once, for the
    commands that follow).

    \b
      wb disconnect i-0abc123
      wb disconnect --all
    """
    from ..errors import UsageError
    from ..keeper import client

    if machine and everything:
        raise UsageError("name a machine or pass --all, not both", hint="wb disconnect --all")
    if not client.supported():
        app.say("no connection keeper runs on this platform: nothing to end")
        return 0
    held = client.running_keepers()
    if machine:
        chosen = [(path, info) for path, info in held if machine in _names(info)]
        if not chosen:
            known = ", ".join(str(info.get("instance")) for _, info in held) or "none"
            raise UsageError(f"no connection is kept for {machine!r} (kept: {known})", hint="wb disconnect --all")
    elif everything or len(held) <= 1:
        chosen = held
    else:
        names = ", ".join(str(info.get("instance")) for _, info in held)
        raise UsageError(f"connections are kept for several machines: {names}", hint="name one, or pass --all")
    if not chosen:
        app.say("no connection is kept")
    import contextlib

    from ..keeper import wire

    for path, info in chosen:
        with contextlib.suppress(OSError, wire.WireError, ValueError):
            client.ask(path, {"op": "stop"})
        app.say(f"ended the connection kept for {info.get('instance')} ({info.get('target')})")
    if everything:
        from ..keeper.warm_names import warm_socket_path

        warm = warm_socket_path()
        if warm is not None and warm.exists():
            with contextlib.suppress(OSError, wire.WireError, ValueError):
                client.ask(warm, {"op": "stop"})
                app.say("ended the warm client")
    return 0


def _names(info: dict[str, object]) -> set[str]:
    """What a user may call a kept machine: its id, its user@host:port, its host, host:port."""
    target = str(info.get("target") or "")
    host_port = target.rpartition("@")[2]
    return {str(info.get("instance")), target, host_port, host_port.rpartition(":")[0]}
