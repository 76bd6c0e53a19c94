"""The client side of `agent sync-scan` (protocol in `weatherballoon.remote.sync_scan`)."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Sequence

from weatherballoon.remote.sync_wire import read_exact

from ..errors import SyncError
from .agent_call import AgentCall
from .records import LocalEntry, RemoteEntry, RemoteManifest

PROTOCOL_VERSION = 1
LENGTH = struct.Struct(">I")


def encode_request(entries: Sequence[LocalEntry]) -> bytes:
    # A LocalEntry is a named tuple in the row's order (path, kind, size, mtime_ns, mode, target): json
    # writes it as that list, with no copy.
    body = {"v": PROTOCOL_VERSION, "entries": entries}
    blob = zlib.compress(json.dumps(body, separators=(",", ":")).encode("ascii"), 1)
    return LENGTH.pack(len(blob)) + blob


def decode_response(blob: bytes) -> RemoteManifest:
    data = json.loads(zlib.decompress(blob).decode("ascii"))
    if data.get("v") != PROTOCOL_VERSION:
        raise ValueError(f"protocol version {data.get('v')!r}, expected {PROTOCOL_VERSION}")
    entries = tuple(
        RemoteEntry(path, kind, size, mtime_ns, mode, target, bool(tracked), digest)
        for path, kind, size, mtime_ns, mode, target, tracked, digest in data["entries"]
    )
    return RemoteManifest(
        root=data["root"], recorded=bool(data["recorded"]), matched=int(data["matched"]), entries=entries
    )


def _read_response(call: AgentCall) -> bytes | None:
    try:
        head = read_exact(call.proc.stdout, LENGTH.size)
        if len(head) < LENGTH.size:
            return None
        (size,) = LENGTH.unpack(head)
        blob = read_exact(call.proc.stdout, size)
    except (OSError, ValueError):
        return None
    return blob if len(blob) == size else None


def exchange(call: AgentCall, request: bytes, remote_root: str) -> RemoteManifest:
    """Send our manifest (`encode_request`) to a started `sync-scan`, return its answer.

    The agent's stdin stays open: the stream follows on it."""
    try:
        call.proc.stdin.write(request)
        call.proc.stdin.flush()
    except (OSError, ValueError):
        pass  # the agent is gone; reading its answer below fails and its stderr says why
    blob = _read_response(call)
    if blob is None:
        call.close_stdin()
        raise call.failure(
            f"cannot compare with the remote copy in {remote_root}",
            hint="check the remote folder (sync.adirServer) and that python3 >= 3.8 works there",
        )
    try:
        return decode_response(blob)
    except (ValueError, KeyError, TypeError, zlib.error) as exc:
        call.cancel()
        raise SyncError(
            f"the remote sync-scan answered in a form this wb cannot read: {exc}",
            hint="the agent and the client disagree; reinstall wb so both come from one version",
        ) from None
