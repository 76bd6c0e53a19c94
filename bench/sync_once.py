"""One whole-process sync, as `wb run` pays for it: interpreter, imports, connect, agent check, sync_up.

With --early-scan the local scan starts first, on a thread (`start_scan`), overlapping the imports and
the connect. On the 2-core test machine under load that did not pay (the scan's Python work competes
with paramiko's for the GIL and the cores), so the benchmark runs without it, as `wb run` does today.

    python -m bench.sync_once --port P --user U --key K --known-hosts KH LOCAL_ROOT REMOTE_ROOT

Prints the SyncSummary as JSON on stdout. Used by `bench.sync_bench` as the counterpart of one
`rsync -a -e ssh` process (both pay a fresh SSH connection).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--known-hosts", required=True)
    parser.add_argument("local_root", type=Path)
    parser.add_argument("remote_root")
    parser.add_argument("--early-scan", action="store_true")
    parser.add_argument(
        "--keeper",
        type=Path,
        help="go through the connection keeper for this target (started, from this project folder, when none"
        " runs yet: that call connects itself); WB_RUNTIME_DIR says where keepers listen",
    )
    args = parser.parse_args()

    from weatherballoon.cli.sync.prepare import start_scan

    scanned = start_scan(args.local_root) if args.early_scan else None

    from weatherballoon.cli.providers.records import SshTarget
    from weatherballoon.cli.session.agent import RemoteAgent
    from weatherballoon.cli.session.connection import ConnectOptions, SshSession
    from weatherballoon.cli.sync.client import sync_up

    target = SshTarget(host=args.host, port=args.port, username=args.user)
    options = ConnectOptions(known_hosts=Path(args.known_hosts), identity_file=args.key)
    session = _through_keeper(args.keeper, target, options) if args.keeper else None
    with session or SshSession.open(target, options) as session:
        summary = sync_up(RemoteAgent(session), args.local_root, args.remote_root, scanned=scanned)
    print(json.dumps(dataclasses.asdict(summary)))


def _through_keeper(project: Path, target, options):  # type: ignore[no-untyped-def]
    """The keeper's session, or None after starting one (as `wb` would, from the project's folder)."""
    from weatherballoon.cli.keeper.client import session_for, start_keeper
    from weatherballoon.cli.providers.records import Instance

    session = session_for(target, options)
    if session is None:
        here = os.getcwd()
        os.chdir(project)
        try:
            start_keeper(Instance(id=target.label, provider="ssh", target=target), options, 1800)
        finally:
            os.chdir(here)
    return session


if __name__ == "__main__":
    main()
    # As `wb` does (cli/main.py): skip the interpreter's teardown once everything is closed.
    sys.stdout.flush()
    os._exit(0)
