"""Where a warm `wb run` spends its time: interpreter, imports, config, connect, kex, auth, agent, sync, job, exit.

    sudo python -m bench.profile_run [--runs 15] [--rtt-ms 0]

Each run spawns a child interpreter that imports the client, wraps a handful of its functions (and
paramiko's `Transport.start_client`) with wall-clock timers, then calls the real entry point
`run_cli(["run", "--", "true"])` against a real sshd. Timers are plain `time.time()` pairs around the
original functions: they add microseconds, not milliseconds. The parent records the spawn time and the exit
time, so the interpreter's start and teardown are counted too. Separately, `python -X importtime` attributes
the import time of `wb run` to packages. The remote side (the agent's Python start) is timed over one ssh
connection with OpenSSH.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.bench_host import WB, BenchHost, bench_host
from bench.stats import machine, markdown_table

# label -> (module, attribute path); nested phases are reported inside their parents.
PROBES: dict[str, tuple[str, str]] = {
    "config load": ("weatherballoon.cli.config.loader", "load_config"),
    "ssh session open": ("weatherballoon.cli.session.connection", "SshSession.open"),
    "  tcp connect": ("weatherballoon.cli.session.connection", "_open_socket"),
    "  banner + kex": ("paramiko.transport", "Transport.start_client"),
    "  host key check": ("weatherballoon.cli.session.connection", "verify_host_key"),
    "  auth (key load + publickey)": ("weatherballoon.cli.session.connection", "_authenticate"),
    "agent check (exec: installed?)": ("weatherballoon.cli.session.agent", "RemoteAgent.ensure_installed"),
    "sync (no-op)": ("weatherballoon.cli.sync.client", "sync_up"),
    "job index write": ("weatherballoon.cli.jobs.index", "save"),
    "job: start, stream, exit status": ("weatherballoon.cli.jobs.run_job", "pump"),
    "fetch outputs": ("weatherballoon.cli.jobs.run_job", "fetch_outputs"),
    "close": ("weatherballoon.cli.providers.base", "Provider.close"),
}

CHILD = r"""
import functools, importlib, json, os, sys, time
started = time.time()
probes = json.loads(os.environ["WB_PROFILE_PROBES"])
from weatherballoon.cli.main import run_cli
import weatherballoon.cli.commands.run, weatherballoon.cli.jobs.run_job, weatherballoon.cli.sync.client
from weatherballoon.cli.session.lazy_paramiko import paramiko
paramiko()
imported = time.time()
events = []

def wrap(label, module_name, path):
    owner = importlib.import_module(module_name)
    *parents, name = path.split(".")
    for part in parents:
        owner = getattr(owner, part)
    raw = owner.__dict__[name] if hasattr(owner, "__dict__") and name in owner.__dict__ else getattr(owner, name)
    is_classmethod = isinstance(raw, classmethod)
    original = raw.__func__ if is_classmethod else raw

    @functools.wraps(original)
    def timed(*args, **kwargs):
        start = time.time()
        try:
            return original(*args, **kwargs)
        finally:
            events.append((label, start, time.time()))

    setattr(owner, name, classmethod(timed) if is_classmethod else timed)

for label, (module_name, path) in probes.items():
    wrap(label, module_name, path)
wrapped = time.time()
code = run_cli(sys.argv[1:])
ended = time.time()
with open(os.environ["WB_PROFILE_OUT"], "w") as handle:
    json.dump({"started": started, "imported": imported, "wrapped": wrapped, "ended": ended,
               "code": code, "events": events}, handle)
sys.exit(code)
"""


def profile_once(bench: BenchHost, argv: list[str], out: Path) -> dict[str, float]:
    env = bench.wb_env() | {"WB_PROFILE_OUT": str(out), "WB_PROFILE_PROBES": json.dumps(PROBES)}
    spawned = time.time()
    proc = subprocess.run([sys.executable, "-c", CHILD, *argv], cwd=bench.project, env=env, capture_output=True)
    exited = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"profiled wb exited {proc.returncode}: {proc.stderr.decode()}")
    trace = json.loads(out.read_text())
    phases: dict[str, float] = defaultdict(float)
    phases["interpreter start (to first line)"] = trace["started"] - spawned
    phases["imports (click, pydantic, paramiko, wb)"] = trace["imported"] - trace["started"]
    for label, start, end in trace["events"]:
        phases[label] += end - start
    top = sum(value for label, value in phases.items() if not label.startswith(" "))
    phases["other (cli parse, provider, glue)"] = (trace["ended"] - trace["wrapped"]) - (
        top - phases["interpreter start (to first line)"] - phases["imports (click, pydantic, paramiko, wb)"]
    )
    nested = sum(value for label, value in phases.items() if label.startswith("  "))
    phases["  other (send_ignore, keepalive setup)"] = phases["ssh session open"] - nested
    phases["interpreter exit (threads, teardown)"] = exited - trace["ended"]
    phases["total (spawn to exit)"] = exited - spawned
    return {label: value * 1000 for label, value in phases.items()}


def import_breakdown(bench: BenchHost, argv: list[str], runs: int) -> dict[str, float]:
    """Median self+children import time per top-level package, from `python -X importtime`."""
    per_run: list[dict[str, float]] = []
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-X", "importtime", WB, *argv], cwd=bench.project,
                              env=bench.wb_env(), capture_output=True, text=True, check=True)  # fmt: skip
        totals: dict[str, float] = defaultdict(float)
        for line in proc.stderr.splitlines():
            match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
            if match and len(match.group(3)) == 1:  # top-level imports only: cumulative covers the rest
                package = match.group(4).split(".")[0]
                if package == "weatherballoon":
                    package = ".".join(match.group(4).split(".")[:3])
                totals[package] += int(match.group(2)) / 1000
        per_run.append(totals)
    names = {name for run in per_run for name in run}
    return {name: statistics.median(run.get(name, 0.0) for run in per_run) for name in names}


def remote_agent_start(bench: BenchHost, runs: int) -> dict[str, float]:
    """The agent's python start on the host, measured inside one ssh command (no connection cost)."""
    script = (
        "a=$(ls ~/.weatherballoon/agent/agent-*.pyz | head -1); "
        f"for i in $(seq {runs}); do "
        's=$(date +%s%N); true; m=$(date +%s%N); python3 -I -S "$a" version >/dev/null; e=$(date +%s%N); '
        "echo $((m-s)) $((e-m)); done"
    )
    out = subprocess.run(bench.ssh_argv(script), capture_output=True, text=True, check=True).stdout
    rows = [tuple(int(value) / 1e6 for value in line.split()) for line in out.splitlines()]
    return {"agent python start (version)": statistics.median(row[1] - row[0] for row in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description="phase breakdown of a warm wb run")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-sync", action="store_true", help="profile `wb run --no-sync -- true`")
    args = parser.parse_args()
    argv = ["run", "--no-sync", "--", "true"] if args.no_sync else ["run", "--", "true"]
    with bench_host() as bench, tempfile.TemporaryDirectory() as tmp:
        profile_once(bench, argv, Path(tmp) / "warm.json")  # installs the agent, initial sync
        runs = [profile_once(bench, argv, Path(tmp) / f"run{index}.json") for index in range(args.runs)]
        imports = import_breakdown(bench, argv, max(5, args.runs // 3))
        remote = remote_agent_start(bench, 10)
        ssh_times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run(bench.ssh_argv("true"), check=True)
            ssh_times.append((time.perf_counter() - start) * 1000)
    labels = list(runs[0])
    rows = [[label.replace(" ", "&nbsp;", 2) if label.startswith(" ") else label,
             f"{statistics.median(run.get(label, 0.0) for run in runs):.1f}"] for label in labels]  # fmt: skip
    print(f"### wb {' '.join(argv)}: median of {args.runs} runs (ms)\n")
    print(markdown_table(["phase", "median ms"], rows))
    print("\n### import time by top-level package (python -X importtime, cumulative, median ms)\n")
    ranked = sorted(imports.items(), key=lambda item: -item[1])
    print(markdown_table(["package", "ms"], [[name, f"{value:.1f}"] for name, value in ranked if value >= 0.5]))
    print(f"\nsum of top-level imports: {sum(imports.values()):.1f} ms")
    print("\n### remote side\n")
    for label, value in remote.items():
        print(f"- {label}: {value:.1f} ms")
    print(f"- reference `ssh true` (fresh connection): median {statistics.median(ssh_times):.0f} ms")
    print("\nmachine: " + json.dumps(machine()))
    print(f"pid {os.getpid()} done")


if __name__ == "__main__":
    main()
