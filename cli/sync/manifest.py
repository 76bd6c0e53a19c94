"""The client side of `agent sync-scan` (protocol in `weatherballoon.remote.sync_scan`)."""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence

from ..errors import SyncError
from .agent_call import AgentCall
from .records import LocalEntry, RemoteEntry, RemoteManifest

PROTOCOL_VERSION = 1


def encode_request(entries: Sequence[LocalEntry]) -> bytes:
    body = {"v": PROTOCOL_VERSION, "entries": [entry.wire() for entry in entries]}
    return zlib.compress(json.dumps(body, separators=(",", ":")).encode("ascii"), 1)


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


def exchange(call: AgentCall, entries: Sequence[LocalEntry], remote_root: str) -> RemoteManifest:
    """Send our manifest to a started `sync-scan`, return its answer."""
    sent = call.send_all(encode_request(entries))
    blob = call.read_stdout()
    status = call.finish()
    if not sent or status != 0 or not blob:
        raise call.failure(
            f"cannot compare with the remote copy in {remote_root}",
            hint="check that the remote folder is readable and that python3 >= 3.8 works there",
        )
    try:
        return decode_response(blob)
    except (ValueError, KeyError, TypeError, zlib.error) as exc:
        raise SyncError(
            f"the remote sync-scan answered in a form this wb cannot read: {exc}",
            hint="the agent and the client disagree; reinstall wb so both come from one version",
        ) from None
