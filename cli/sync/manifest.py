"""The client side of `agent sync-scan` (protocol in `weatherballoon.remote.sync.scan`)."""

from __future__ import annotations

from collections.abc import Sequence

from weatherballoon.remote.sync.scan import CodecError, Request, Response, read_frame

from ..errors import SyncError
from .agent_call import AgentCall
from .records import LocalEntry, RemoteEntry, RemoteManifest

PROTOCOL_VERSION = 2


def encode_request(entries: Sequence[LocalEntry]) -> bytes:
    if not entries:
        return Request([], "", (), []).encode()
    paths, kinds, sizes, mtimes, modes, targets = zip(*entries, strict=True)  # LocalEntry is a named tuple: columns
    links = [target for kind, target in zip(kinds, targets, strict=True) if kind == "l"]
    return Request(list(paths), "".join(kinds), sizes + mtimes + modes, links).encode()


def decode_response(body: bytes) -> RemoteManifest:
    response = Response.decode(body)
    entries = tuple(RemoteEntry._make(row) for row in response.rows())
    return RemoteManifest(root=response.root, recorded=response.recorded, matched=response.matched, entries=entries)


def _read_response(call: AgentCall) -> bytes | None:
    try:
        return read_frame(call.proc.stdout)
    except (OSError, ValueError):
        return None


def exchange(call: AgentCall, request: bytes, remote_root: str) -> RemoteManifest:
    """Send our manifest (`encode_request`) to a started `sync-scan`, return its answer.

    The agent's stdin stays open: the stream follows on it."""
    try:
        call.proc.stdin.write(request)
        call.proc.stdin.flush()
    except (OSError, ValueError):
        pass  # the agent is gone; reading its answer below fails and its stderr says why
    body = _read_response(call)
    if body is None:
        call.close_stdin()
        raise call.failure(
            f"cannot compare with the remote copy in {remote_root}",
            hint="check the remote folder (sync.adirServer) and that python3 >= 3.8 works there",
        )
    try:
        return decode_response(body)
    except (CodecError, ValueError, KeyError, TypeError) as exc:
        call.cancel()
        raise SyncError(
            f"the remote sync-scan answered in a form this wb cannot read: {exc}",
            hint="the agent and the client disagree; reinstall wb so both come from one version",
        ) from None
