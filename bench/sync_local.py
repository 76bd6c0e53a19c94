"""sync_up with the agent as a local subprocess: the sync's own cost, without SSH.

    python -m bench.sync_local [--rounds 11] [--initial-rounds 5] [--python /usr/bin/python3] [--dest-dir DIR]

The agent is the shipped zipapp run by `--python` (-I -S), its HOME a temp folder (or --dest-dir, e.g. a
tmpfs, to keep the disk out of it); the tree is `bench.sync_tree` (~5,000 files, ~200 MB). Reports the
median of: the local scan alone (git ls-files + lstat), an initial sync, a no-op sync and a sync with
one changed file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.stats import machine, markdown_table, summary_ms
from bench.sync_tree import make_tree, tree_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--initial-rounds", type=int, default=5)
    parser.add_argument("--python", default="/usr/bin/python3", help="the agent's interpreter")
    parser.add_argument("--dest-dir", type=Path, help="the agent's HOME (default: a temp folder)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from weatherballoon.cli.session.bundle import agent_bundle
    from weatherballoon.cli.sync.client import sync_up
    from weatherballoon.cli.sync.local_scan import scan

    work = Path(tempfile.mkdtemp(prefix="wb-sync-local-"))
    home = Path(tempfile.mkdtemp(prefix="wb-sync-home-", dir=args.dest_dir))
    try:
        src = make_tree(work / "tree")
        agent = work / "agent.pyz"
        agent.write_bytes(agent_bundle().data)
        env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}

        def runner(argv: list[str]) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [args.python, "-I", "-S", str(agent), *argv],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            )  # fmt: skip

        def timed(action: Callable[[], object], rounds: int, before: Callable[[], None] | None = None) -> list[float]:
            samples = []
            for _ in range(rounds):
                if before:
                    before()
                start = time.perf_counter()
                action()
                samples.append(time.perf_counter() - start)
            return samples

        def forget() -> None:
            shutil.rmtree(home / "wb", ignore_errors=True)
            shutil.rmtree(home / ".weatherballoon", ignore_errors=True)

        changed = src / "pkg00" / "mod0" / "file00000.py"

        def touch_one() -> None:
            with changed.open("a") as handle:
                handle.write("# changed\n")

        def sync() -> object:
            return sync_up(runner, src, "~/wb/tree")

        results = {
            "local scan": timed(lambda: scan(src), args.rounds),
            "initial sync": timed(sync, args.initial_rounds, before=forget),
            "no-op sync": timed(sync, args.rounds),
            "one file changed": timed(sync, args.rounds, before=touch_one),
        }
        files, size = tree_size(src)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    rows = [
        [name, f"{summary_ms(s)['median']:.0f}", f"{summary_ms(s)['p90']:.0f}", str(len(s))]
        for name, s in results.items()
    ]
    print(f"### Local subprocess agent ({args.python}), {files} files, {size / 1e6:.0f} MB\n")
    print(markdown_table(["what", "median ms", "p90 ms", "runs"], rows))
    print("\nmachine: " + json.dumps(machine()))
    if args.json:
        args.json.write_text(json.dumps({name: summary_ms(s) for name, s in results.items()}, indent=2))


if __name__ == "__main__":
    main()
