"""wb proxy HOST"""

from __future__ import annotations

import click

from ..app import App


@click.command()
@click.argument("host", metavar="HOST")
@click.pass_obj
def command(app: App, host: str) -> int:
    """Connect stdin/stdout to HOST's SSH port: OpenSSH's ProxyCommand for wb machines (see wb ssh-config).

    HOST is an instance id (aws) or a host of provisioner.hosts (ssh), as `wb ssh-config` names it. With EC2
    Instance Connect and no keyPair, it also writes a fresh key to the file `wb ssh-config` names, pushes
    it, and removes it when the relay ends.
    """
    import contextlib

    from ..session.relay import relay

    _end_on_hangup()
    provider = app.provider()
    try:
        instance = provider.resolve(host)
        reach = provider.connect_options(instance).instance_connect
        with contextlib.ExitStack() as cleanup:
            stream = provider.open_stream(instance)
            cleanup.callback(stream.close)
            if reach is not None and reach.push_key:
                from ..session.pushed_key_file import pushed_key_file

                cleanup.enter_context(pushed_key_file(reach, instance.target.label))
            try:
                return relay(stream.sock)
            finally:
                _ignore_hangup()
    finally:
        provider.close()


def _end_on_hangup() -> None:
    """ssh ends its ProxyCommand with SIGHUP when it exits: unwind then (so the key file is removed), instead of
    dying where the signal finds us."""
    import signal

    def unwind(_signum: int, _frame: object) -> None:
        _ignore_hangup()  # once: the cleanup itself is not interrupted by a second signal
        raise SystemExit(0)

    for name in ("SIGHUP", "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), unwind)


def _ignore_hangup() -> None:
    import signal

    for name in ("SIGHUP", "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
