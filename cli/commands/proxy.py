"""wb proxy HOST"""

from __future__ import annotations

import click

from ..app import App


@click.command()
@click.argument("host", metavar="HOST")
@click.pass_obj
def command(app: App, host: str) -> int:
    """Connect stdin/stdout to HOST's SSH port: OpenSSH's ProxyCommand for wb machines (see wb ssh-config).

    HOST is an instance id (aws) or a host of provisioner.hosts (ssh), as `wb ssh-config` names it.
    """
    from ..session.relay import relay

    provider = app.provider()
    try:
        instance = provider.resolve(host)
        stream = provider.open_stream(instance)
        try:
            return relay(stream.sock)
        finally:
            stream.close()
    finally:
        provider.close()
