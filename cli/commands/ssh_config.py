"""wb ssh-config"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..app import App

if TYPE_CHECKING:
    from paramiko import PKey

    from ..providers.base import Provider
    from ..providers.records import Instance


@click.command()
@click.option("--no-pin", is_flag=True, help="Do not read the machines' host keys now (ssh then refuses them).")
@click.pass_obj
def command(app: App, no_pin: bool) -> int:
    """Print OpenSSH `Host` entries for my machines, each reached through `wb proxy`.

    \b
      wb ssh-config > ~/.ssh/wb.conf     # and `Include wb.conf` atop ~/.ssh/config
      ssh INSTANCE; scp file INSTANCE:; code --remote ssh-remote+INSTANCE /path

    Host keys are pinned: each machine's key is read and checked as wb checks it, then written to a
    known_hosts file of wb's own that the entries name (StrictHostKeyChecking yes).
    """
    from concurrent.futures import ThreadPoolExecutor

    from ..errors import UsageError
    from ..session.host_pins import write_pins

    provider = app.provider()
    try:
        machines = provider.own_machines()
        if not machines:
            raise UsageError(
                f"no machine of yours is up ({provider.name} provider): there is nothing to write entries for",
                hint="start one with: wb run -- true (or wb ssh --launch), then run wb ssh-config again",
            )
        pins: dict[str, PKey] = {}
        if not no_pin:
            with ThreadPoolExecutor(max_workers=min(8, len(machines))) as pool:
                found = list(pool.map(lambda machine: _pin(app, provider, machine), machines))
            pins = {host_name(machine): key for machine, key in zip(machines, found, strict=True) if key is not None}
            if pins:
                write_pins(pins)
        entries = [_entry(app, provider, machine) for machine in machines]
    finally:
        provider.close()
    header = f"# wb ssh-config ({provider.name} provider"
    if provider.loaded.path:
        header += f", {provider.loaded.path}"
    click.echo(header + "): rerun after machines change\n")
    click.echo("".join(entries), nl=False)
    return 0


def host_name(machine: Instance) -> str:
    """The `Host` name: an instance id, or an ssh host's alias (else `host`, or `host-port`)."""
    return machine.target.ssh_name if machine.provider == "ssh" else machine.id


def _pin(app: App, provider: Provider, machine: Instance) -> PKey | None:
    from ..errors import ConnectError, WbError
    from ..session.host_pins import scan

    try:
        return scan(provider.open_stream(machine), machine.target, provider.verify_options(machine))
    except WbError as exc:
        why = exc.message.removeprefix(f"{exc.host}: ") if isinstance(exc, ConnectError) else exc.message
        app.warn(f"{machine.id}: host key not pinned ({why}); ssh will refuse it until this runs again")
        return None


def _entry(app: App, provider: Provider, machine: Instance) -> str:
    import shlex

    from ..errors import WbError
    from ..session.host_pins import pins_path

    name = host_name(machine)
    lines = [
        f"Host {name}",
        f"  User {machine.target.username}",
        f"  ProxyCommand {_proxy_command(provider)} %h",
        f"  HostKeyAlias {name}",
        f"  UserKnownHostsFile {_escape(shlex.quote(str(pins_path())))}",
        "  StrictHostKeyChecking yes",
    ]
    try:
        options = provider.connect_options(machine)
    except WbError as exc:
        app.warn(f"{machine.id}: no key to log in with here ({exc.message})")
        identity = None
    else:
        identity = options.identity_file
        reach = options.instance_connect
        if reach is not None and reach.push_key:
            from ..session.pushed_key_file import key_folder

            identity = str(key_folder() / reach.instance_id)  # written by `wb proxy` for each connection
    if identity:
        from pathlib import Path

        lines += [f"  IdentityFile {_escape(shlex.quote(str(Path(identity).expanduser())))}", "  IdentitiesOnly yes"]
    return "\n".join(lines) + "\n\n"


def _proxy_command(provider: Provider) -> str:
    """`wb proxy`, by the absolute path of this wb (VS Code's ssh runs without the shell's PATH), with this
    project's config (ssh runs it from any folder)."""
    import shlex
    import shutil
    import sys
    from pathlib import Path

    argv0 = Path(sys.argv[0])
    wb = str(argv0.resolve()) if argv0.name == "wb" and argv0.exists() else shutil.which("wb") or "wb"
    words = [wb, "proxy"]
    if provider.loaded.path:
        words = ["env", f"WB_CONFIG={provider.loaded.path}", *words]
    return _escape(shlex.join(words))


def _escape(text: str) -> str:
    """ssh expands %-tokens in these values: a literal % is %%."""
    return text.replace("%", "%%")
