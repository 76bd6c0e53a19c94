"""One paramiko SSH connection per command, reused for sync, the agent and the job streams.

The socket is opened here, not by paramiko, to set TCP_NODELAY (paramiko never does; without it each
request stalls for delayed ACKs) and TCP_USER_TIMEOUT (so a cut link is noticed within the keepalive bound
instead of after the kernel's ~15 minutes of retransmissions). A host that still acknowledges TCP but no
longer answers (sshd stopped or hung) is noticed by the heartbeat (`heartbeat.py`) within the same bound.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from ..errors import AuthError, ConnectError, WbError
from ..providers.records import SshTarget
from .auth import candidate_keys
from .heartbeat import Heartbeat, ReceiveClock
from .hostkeys import verify_host_key

if TYPE_CHECKING:
    from paramiko import Channel, Transport

    from .instance_connect import InstanceConnect
    from .process import RemoteProcess
    from .streams import Stream
    from .tunnel import Tunnel


@dataclass(frozen=True)
class ConnectOptions:
    known_hosts: Path
    host_key_policy: str = "strict"
    identity_file: str | None = None
    connect_timeout_s: float = 10.0
    keepalive_s: int = 3
    # A connection whose sent data stays unacknowledged this long, or whose keepalive has had no answer (and
    # nothing else arrived) this long, is declared lost.
    user_timeout_ms: int = 12_000
    # aws machines reached with EC2 Instance Connect: a key pushed per connection, maybe through a tunnel.
    instance_connect: InstanceConnect | None = None

    @property
    def loss_bound_s(self) -> float:
        return self.keepalive_s + self.user_timeout_ms / 1000

    @property
    def reply_timeout_s(self) -> float:
        return self.user_timeout_ms / 1000


class RemoteExec:
    """A command running over an exec channel; satisfies `process.RemoteProcess`."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        # paramiko's channel files are file-like enough for the RemoteProcess protocol.
        self.stdin = cast(IO[bytes], channel.makefile_stdin("wb"))
        self.stdout = cast(IO[bytes], channel.makefile("rb"))
        self.stderr = cast(IO[bytes], channel.makefile_stderr("rb"))

    def wait(self) -> int:
        """The exit status, or -1 when the connection ended without one (treat as lost, never as a finish)."""
        return int(self.channel.recv_exit_status())

    def close(self) -> None:
        self.channel.close()


def run_to_end(proc: RemoteProcess, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    """Give a started command its input (if any) and EOF, read both streams to the end: (status, out, err)."""
    with contextlib.suppress(OSError):  # it exited without reading all its input: its status says why
        if stdin is not None:
            proc.stdin.write(stdin)
        proc.stdin.close()
    out = proc.stdout.read()
    err = proc.stderr.read()
    return proc.wait(), out, err


class SshSession:
    def __init__(
        self,
        transport: Transport,
        target: SshTarget,
        options: ConnectOptions,
        heartbeat: Heartbeat | None = None,
        tunnel: Tunnel | None = None,
    ) -> None:
        self.transport = transport
        self.target = target
        self.options = options
        self.heartbeat = heartbeat
        # The Instance Connect Endpoint tunnel this connection runs through, if any: `tunnel.ended_by_endpoint`
        # tells an expired tunnel (resume on a new one) from a lost network.
        self.tunnel = tunnel
        self._lock = threading.Lock()
        self.stream: Stream | None = None  # what it runs over (jump hosts, a tunnel), closed with it

    @classmethod
    def open(
        cls, target: SshTarget, options: ConnectOptions, *, sock: Any = None, stream: Stream | None = None
    ) -> SshSession:
        """Connect, verify the host key, authenticate. `sock` may be a socket from `open_socket` already;
        `stream` one from `open_stream` (or a provider's own), which the session then owns."""
        if sock is None:
            if stream is None:
                stream = open_stream(target, options)
            sock = stream.sock
        try:
            session = cls._open_on(target, options, sock, stream.tunnel if stream is not None else None)
        except BaseException:
            if stream is not None:
                stream.close()
            raise
        session.stream = stream
        return session

    @classmethod
    def _open_on(cls, target: SshTarget, options: ConnectOptions, sock: Any, tunnel: Tunnel | None) -> SshSession:
        from .lazy_paramiko import paramiko

        pm = paramiko()
        clock = ReceiveClock(sock)
        transport = pm.Transport(clock)
        transport.banner_timeout = options.connect_timeout_s
        try:
            transport.start_client(timeout=options.connect_timeout_s)
            # start_client returns quietly when its timeout passes before the key exchange is done.
            server_key = transport.get_remote_server_key()
        except (pm.SSHException, EOFError, OSError) as exc:
            transport.close()
            # Both mean the peer said nothing SSH-like in time: paramiko appends the cause's text only for
            # errors other than a timeout.
            if str(exc) in ("No existing session", "Error reading SSH protocol banner"):
                raise ConnectError(
                    f"timed out after {options.connect_timeout_s:g}s waiting for the SSH handshake",
                    host=target.label,
                    hint="something listens on that port but does not speak SSH in time; check the port and the host",
                ) from exc
            raise ConnectError(
                f"SSH handshake failed: {exc or type(exc).__name__}",
                host=target.label,
                hint="check that an SSH server listens on that port (try: ssh -p PORT user@host)",
            ) from exc
        try:
            verify_host_key(
                server_key,
                host=target.host,
                port=target.port,
                known_hosts=options.known_hosts,
                policy=options.host_key_policy,
                expected_fingerprint=target.host_key_fingerprint,
            )
            _authenticate(transport, target, options)
        except BaseException:
            transport.close()
            raise
        # The first request after auth tends to stall on a delayed ACK; an ignore message clears it.
        transport.send_ignore()
        heartbeat = Heartbeat(
            transport, clock, interval_s=options.keepalive_s, reply_timeout_s=options.reply_timeout_s
        ).start()
        return cls(transport, target, options, heartbeat, tunnel)

    @property
    def alive(self) -> bool:
        return bool(self.transport.is_active())

    def channel(self) -> Channel:
        try:
            with self._lock:
                return self.transport.open_session(timeout=self.options.connect_timeout_s)
        except Exception as exc:
            raise ConnectError(f"connection lost: {exc}", host=self.target.label) from exc

    def exec(self, command: str) -> RemoteExec:
        channel = self.channel()
        try:
            channel.exec_command(command)
        except EOFError as exc:  # the server dropped the whole connection (sshd does on a malformed request)
            channel.close()
            raise ConnectError("the server closed the SSH connection", host=self.target.label) from exc
        return RemoteExec(channel)

    def run(self, command: str, *, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
        """Run a short command to completion: (status, stdout, stderr)."""
        return run_to_end(self.exec(command), stdin)

    @property
    def silent_for_s(self) -> float | None:
        """How long the peer had said nothing when the heartbeat gave up on it; None while it answers."""
        return self.heartbeat.silent_for_s if self.heartbeat is not None else None

    def close(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()
        self.transport.close()
        if self.stream is not None:
            self.stream.close()  # a tunnel is among what the stream closes
        elif self.tunnel is not None:
            self.tunnel.close()

    def __enter__(self) -> SshSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Why a TCP connect failed, as the user reads it: (the error's class, message, hint), the most specific
# first; every one is an OSError, so the last row catches the rest. Messages are formatted with `host`,
# `strerror`, `timeout` (the connect timeout) and `detail` (strerror, else the error itself).
CONNECT_FAILURES: tuple[tuple[type[OSError], str, str], ...] = (
    (socket.gaierror, "cannot resolve host name {host!r}: {strerror}",
     "check provisioner.hosts in .weatherballoon.json"),
    (ConnectionRefusedError, "connection refused",
     "is sshd running and listening on that port? check provisioner.hosts"),
    (TimeoutError, "connection timed out after {timeout:g}s",
     "the host may be down or a firewall drops SSH; check the address and port"),
    (OSError, "cannot connect: {detail}", "check the network path to the host"),
)  # fmt: skip


def connect_error(exc: OSError, target: SshTarget, options: ConnectOptions) -> ConnectError:
    """The ConnectError for a failed TCP connect to `target` (the first row of CONNECT_FAILURES that fits)."""
    _, message, hint = next(row for row in CONNECT_FAILURES if isinstance(exc, row[0]))
    text = message.format(
        host=target.host, strerror=exc.strerror, timeout=options.connect_timeout_s, detail=exc.strerror or exc
    )
    return ConnectError(text, host=target.label, hint=hint)


def open_socket(target: SshTarget, options: ConnectOptions) -> socket.socket:
    try:
        sock = socket.create_connection((target.host, target.port), timeout=options.connect_timeout_s)
    except OSError as exc:
        raise connect_error(exc, target, options) from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, options.user_timeout_ms)
    sock.settimeout(None)
    return sock


def _open_tunnel(target: SshTarget, options: ConnectOptions, reach: InstanceConnect) -> Tunnel:
    """The Instance Connect Endpoint's tunnel to the machine's port."""
    from .tunnel import open_tunnel

    assert reach.tunnel is not None
    if reach.credentials is None:
        raise ConnectError("no AWS credentials to sign the tunnel with", host=target.label)
    return open_tunnel(
        reach.tunnel,
        reach.private_ip,
        credentials=reach.credentials(),
        port=target.port,
        timeout_s=options.connect_timeout_s,
        host_label=f"{reach.instance_id} ({target.label})",
    )


def open_stream(target: SshTarget, options: ConnectOptions) -> Stream:
    """A stream to `target`'s sshd: through the Instance Connect Endpoint's tunnel when the options name one,
    else through its ProxyJump hops when it has any, else direct TCP."""
    from .streams import Stream, direct_tcpip, jump_hops

    reach = options.instance_connect
    if reach is not None and reach.tunnel is not None:
        tunnel = _open_tunnel(target, options, reach)
        return Stream(tunnel.sock, closers=[tunnel.close], tunnel=tunnel)
    if not target.proxy_jump:
        return Stream(open_socket(target, options))
    hops = jump_hops(target.proxy_jump, target.username)
    via: list[SshSession] = []
    try:
        for hop in hops:
            via.append(_open_hop(hop, options, via[-1] if via else None))
        return Stream(direct_tcpip(via[-1], target), via)
    except BaseException:
        for session in reversed(via):
            session.close()
        raise


def _open_hop(hop: SshTarget, options: ConnectOptions, before: SshSession | None) -> SshSession:
    from dataclasses import replace

    from .streams import direct_tcpip

    # A jump host is checked against known_hosts (it registered no fingerprint) and offered its own key.
    hop_options = replace(options, identity_file=hop.identity_file or options.identity_file)
    sock = open_socket(hop, hop_options) if before is None else direct_tcpip(before, hop)
    try:
        return SshSession.open(hop, hop_options, sock=sock)
    except WbError as exc:
        raise ConnectError(f"jump host {hop.label}: {exc.message}", hint=exc.hint) from exc


def _authenticate(transport: Transport, target: SshTarget, options: ConnectOptions) -> None:
    from .lazy_paramiko import paramiko

    pm = paramiko()
    if options.instance_connect is not None and options.instance_connect.push_key:
        _authenticate_pushed(transport, target, options.instance_connect)
        return
    tried: list[str] = []
    skipped: list[str] = []  # default keys with a passphrase nobody could type
    for label, key in candidate_keys(options.identity_file, skipped):
        tried.append(label)
        try:
            transport.auth_publickey(target.username, key)
        except pm.AuthenticationException:
            continue
        except pm.SSHException as exc:
            raise ConnectError(f"authentication failed: {exc}", host=target.label) from exc
        if transport.is_authenticated():
            return
    if not tried and skipped:
        raise AuthError(
            f"no SSH key to offer: {'; '.join(skipped)}",
            host=target.label,
            hint="load the key into ssh-agent with ssh-add, or run wb on a terminal to type its passphrase",
        )
    if not tried:
        raise AuthError(
            "no SSH key to offer: no identityFile, no ssh-agent keys, no ~/.ssh/id_ed25519 or id_rsa",
            host=target.label,
            hint="set provisioner.identityFile, or create a key with ssh-keygen -t ed25519",
        )
    also = f"; not offered: {'; '.join(skipped)}" if skipped else ""
    raise AuthError(
        f"authentication failed for user {target.username!r} (offered: {', '.join(tried)}{also})",
        host=target.label,
        hint=f"add your public key to ~{target.username}/.ssh/authorized_keys on the host, "
        "or point provisioner.identityFile at the right key",
    )


def _authenticate_pushed(transport: Transport, target: SshTarget, reach: InstanceConnect) -> None:
    """Log in with a key pushed for this connection alone (instance_connect.py)."""
    from .instance_connect import KEY_LIFETIME_S, push_key
    from .lazy_paramiko import paramiko

    pm = paramiko()
    key = push_key(reach, target.label)
    try:
        transport.auth_publickey(target.username, key)
    except pm.AuthenticationException:
        pass
    except pm.SSHException as exc:
        raise ConnectError(f"authentication failed: {exc}", host=target.label) from exc
    if not transport.is_authenticated():
        raise AuthError(
            f"the machine refused the key pushed for {target.username!r} with EC2 Instance Connect",
            host=target.label,
            hint=f"its sshd must take pushed keys (AuthorizedKeysCommand of the ec2-instance-connect package, "
            f"keys live {KEY_LIFETIME_S} s): use an AMI that has it, or set provisioner.keyPair",
        )
