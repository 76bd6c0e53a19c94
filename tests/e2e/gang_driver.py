"""Holds a gang in the sandbox the way `wb run --nodes N` holds one: `AwsProvider.acquire_gang`, then an agent
on every rank (its SSH login, its supervision daemon), every lease kept while attached.

    python -m tests.e2e.gang_driver NODES      # in a project folder, with a `wb sandbox env` environment

Prints one JSON line once every rank is reached ({"ids": [...], "acquired_s": ..., "reached_s": ...}), then
holds the gang until SIGTERM (which lets go of it as a finished command does) or SIGKILL (a client gone).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from pathlib import Path

from weatherballoon.cli.config.loader import load_config
from weatherballoon.cli.providers.aws import AwsProvider
from weatherballoon.cli.providers.records import InstanceSpec


def main(argv: list[str]) -> int:
    nodes = int(argv[0])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    loaded = load_config(cwd=Path.cwd())
    provider = AwsProvider(loaded.config, loaded, say=lambda line: print(f"wb: {line}", file=sys.stderr, flush=True))
    started = time.monotonic()
    held = provider.acquire_gang(InstanceSpec(), nodes)
    acquired = time.monotonic()
    with contextlib.ExitStack() as attached:
        for member in held:
            attached.enter_context(provider.attached(member.instance))
        for member in held:
            provider.agent(member.instance)
        reached = time.monotonic()
        report = {
            "ids": [member.id for member in held],
            "gang": held[0].gang_id,
            "ranks": [member.gang_rank for member in held],
            "acquired_s": acquired - started,
            "reached_s": reached - started,
        }
        print(json.dumps(report), flush=True)
        while True:
            time.sleep(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
