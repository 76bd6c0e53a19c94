"""A byte stream to a machine's sshd: a TCP socket, a channel through ProxyJump hops, or the local end of an
EC2 Instance Connect Endpoint tunnel (`connection.open_stream` opens each).

This is the seam every way of reaching port 22 goes through: an SSH session runs over it (`SshSession.open`),
`wb proxy` relays it to OpenSSH. A provider with another path (a tunnel) hands its own `Stream` instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, ConnectError

if TYPE_CHECKING:
    from ..providers.records import SshTarget
    from .connection import SshSession
    from .tunnel import Tunnel

# OpenSSH follows at most this many hops; a ProxyJump that leads back to itself must end somewhere.
MAX_HOPS = 8


@dataclass
class Stream:
    """`sock` is what paramiko reads and writes (a socket, a paramiko Channel, a tunnel's local end); `via`
    are the jump-host sessions it runs through and `closers` whatever else carries it (a tunnel), all closed
    with it."""

    sock: Any
    via: list[SshSession] = field(default_factory=list)
    closers: list[Callable[[], object]] = field(default_factory=list)
    tunnel: Tunnel | None = None  # the Instance Connect Endpoint's tunnel it runs through (also in `closers`)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sock.close()
        for session in reversed(self.via):
            session.close()
        for closer in self.closers:
            with contextlib.suppress(Exception):
                closer()


def jump_hops(proxy_jump: str, default_user: str, depth: int = 0) -> list[SshTarget]:
    """The hops of a ProxyJump value, in order; each name is looked up in ~/.ssh/config (a hop's own
    ProxyJump comes first, as OpenSSH does it)."""
    from ..config.model import HOST_PATTERN
    from ..providers.records import SshTarget
    from .ssh_config import lookup

    hops: list[SshTarget] = []
    for spec in (part.strip() for part in proxy_jump.split(",")):
        spec = spec.removeprefix("ssh://")
        match = HOST_PATTERN.match(spec)
        if not match:
            raise ConfigError(
                f"ProxyJump {spec!r} is not of the form [user@]host[:port]",
                hint="fix the ProxyJump line in ~/.ssh/config",
            )
        name = match["host"].strip("[]")
        settings = lookup(name)
        if settings.proxy_jump:
            if depth >= MAX_HOPS:
                raise ConfigError(
                    f"ProxyJump for {name!r} goes more than {MAX_HOPS} hops deep (a loop?)",
                    hint="check the ProxyJump lines in ~/.ssh/config",
                )
            hops += jump_hops(settings.proxy_jump, default_user, depth + 1)
        hops.append(
            SshTarget(
                host=settings.hostname,
                port=int(match["port"] or settings.port or 22),
                username=match["user"] or settings.user or default_user,
                alias=name if settings.hostname != name else None,
                identity_file=settings.identity_file,
            )
        )
    return hops


def direct_tcpip(session: SshSession, target: SshTarget) -> Any:
    """A channel from the jump host to target's port (the jump host's sshd connects it)."""
    from .lazy_paramiko import paramiko

    try:
        return session.transport.open_channel(
            "direct-tcpip",
            (target.host, target.port),
            ("127.0.0.1", 0),
            timeout=session.options.connect_timeout_s,
        )
    except (paramiko().SSHException, OSError, EOFError) as exc:
        raise ConnectError(
            f"the jump host {session.target.label} could not connect to {target.host}:{target.port}: {exc}",
            host=target.label,
            hint="check its HostName and Port in ~/.ssh/config, and that the jump host allows forwarding "
            "(AllowTcpForwarding)",
        ) from exc
