"""The project on every machine of a gang, with one copy over the laptop's uplink.

The laptop syncs to rank 0 as for any run. Rank 0's agent then serves what that sync recorded
(`fanout-serve`, remote/sync/fanout.py) on a free port, and every other rank's agent fetches it from rank 0
over the cluster network (`fanout-fetch`), all at once. The laptop only carries the commands and a per-run
token; no key is put on any machine, and nothing on the hosts needs to trust rank 0 beyond that token (why:
docs/multinode.md, "How the code gets to every rank").
"""

from __future__ import annotations

import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import SyncError

if TYPE_CHECKING:
    from ..session.agent import RemoteAgent


@dataclass(frozen=True)
class FanoutSummary:
    ranks: int  # machines that fetched (rank 0 excluded)
    bytes_served: int  # what rank 0 sent in all, inside the cluster
    seconds: float


def _agent_message(err: bytes) -> str:
    text = err.decode("utf-8", "replace").strip().replace("wb-agent: ", "")
    return text or "no message"


def fan_out(agents: list[RemoteAgent], labels: list[str], remote_root: str, rank0_address: str) -> FanoutSummary:
    """Copy rank 0's synced `remote_root` to ranks 1..N-1 (`agents[1:]`); `labels` name the hosts in errors."""
    started = time.perf_counter()
    token = secrets.token_hex(16)
    serve = agents[0](["fanout-serve", remote_root, "--clients", str(len(agents) - 1)])
    serve.stdin.write(f"{token}\n".encode("ascii"))
    serve.stdin.flush()
    first = serve.stdout.readline().decode("ascii", "replace").split()
    if len(first) != 2 or first[0] != "port" or not first[1].isdigit():
        status = serve.wait()
        raise SyncError(
            f"rank 0 ({labels[0]}) could not serve the project to the other ranks (exit {status}):"
            f" {_agent_message(serve.stderr.read())}"
        )
    source = f"{rank0_address}:{first[1]}"

    def fetch(rank: int) -> tuple[int, int, bytes, bytes]:
        status, out, err = agents[rank].run(
            ["fanout-fetch", remote_root, "--from", source], stdin=f"{token}\n".encode()
        )
        return rank, status, out, err

    with ThreadPoolExecutor(max_workers=min(16, len(agents) - 1)) as pool:
        results = list(pool.map(fetch, range(1, len(agents))))
    failed = [(rank, status, err) for rank, status, _out, err in results if status != 0]
    if failed:
        serve.close()
        rank, status, err = failed[0]
        raise SyncError(
            f"rank {rank} ({labels[rank]}) could not fetch the project from rank 0 at {source} (exit {status}):"
            f" {_agent_message(err)}",
            hint="the ranks must reach one another on any port (docs/multinode.md, Networking)",
        )
    tail = serve.stdout.read().decode("ascii", "replace").strip()
    serve.wait()
    try:
        served = int(json.loads(tail.splitlines()[-1]).get("bytes", 0))
    except (ValueError, IndexError, AttributeError):
        served = 0
    return FanoutSummary(ranks=len(agents) - 1, bytes_served=served, seconds=time.perf_counter() - started)
