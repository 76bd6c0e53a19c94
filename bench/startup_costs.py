"""What the client's Python start costs before any network I/O, and what cheap changes would save.

    python -m bench.startup_costs [--rounds 20]

Each variant is a fresh interpreter (`python -c CODE`, site enabled as the `wb` script has it) that imports a
part of what `wb run` imports, interleaved round by round so load on the machine hits all variants alike.
Reported: median wall time and the difference to `python -c pass`.

The `os._exit` and `gc` variants show the interpreter teardown and the collector's share of the imports: a
process that has flushed its streams and closed its connection can skip the teardown safely.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from bench.stats import machine, markdown_table

RUN_PATH = (
    "import weatherballoon.cli.main, weatherballoon.cli.commands.run, weatherballoon.cli.jobs.run_job, "
    "weatherballoon.cli.sync.client, weatherballoon.cli.providers.ssh, weatherballoon.cli.session.agent\n"
    "from weatherballoon.cli.session.lazy_paramiko import paramiko; paramiko()\n"
)
EXIT_NOW = "import os, sys; sys.stdout.flush(); sys.stderr.flush(); os._exit(0)\n"

VARIANTS: dict[str, str] = {
    "python -c pass": "pass",
    "cli.main (what `wb --help` loads)": "import weatherballoon.cli.main",
    "+ config loader (pydantic, the model)": "import weatherballoon.cli.main, weatherballoon.cli.config.loader",
    "+ paramiko (without invoke)": "import weatherballoon.cli.main\n"
    "from weatherballoon.cli.session.lazy_paramiko import paramiko; paramiko()",
    "+ sync client (pathspec, scan, wire)": "import weatherballoon.cli.main, weatherballoon.cli.sync.client",
    "+ provider lookup (loads the ssh provider, hence the config model)": "import weatherballoon.cli.main\n"
    "from weatherballoon.cli.providers.registry import provider_class; provider_class('ssh')",
    "whole run path": RUN_PATH,
    "whole run path, then os._exit (no teardown)": RUN_PATH + EXIT_NOW,
    "whole run path with gc disabled, then os._exit": "import gc; gc.disable()\n" + RUN_PATH + EXIT_NOW,
}


def main() -> None:
    parser = argparse.ArgumentParser(description="import and teardown costs of the wb client, interleaved")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, code in VARIANTS.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            samples[name].append(time.perf_counter() - start)
    base = statistics.median(samples["python -c pass"])
    rows = []
    for name, values in samples.items():
        median = statistics.median(values)
        rows.append([name, f"{median * 1000:.1f}", f"{(median - base) * 1000:+.1f}"])
    print(f"### client start-up, {args.rounds} interleaved rounds (median ms)\n")
    print(markdown_table(["variant", "median ms", "vs python -c pass"], rows))
    print("\nmachine: " + str(machine()))


if __name__ == "__main__":
    main()
