"""Where a warm `wb run` spends its time: interpreter, imports, config, connect, kex, auth, agent, sync, job, exit.

    sudo python -m bench.profile_run [--runs 15] [--no-sync] [--rtt-ms 0]

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
import contextlib
import json
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
from tests.support.delay_proxy import DelayProxy

# label -> (module, attribute path); nested phases are reported inside their parents.
PROBES: dict[str, tuple[str, str]] = {
    "config load": ("weatherballoon.cli.config.loader", "load_config"),
    "provider lookup (entry points)": ("weatherballoon.cli.providers.registry", "provider_class"),
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
    # Counted, not added up: each is one channel open + one exec request on the connection.
    "# channels opened": ("weatherballoon.cli.session.connection", "SshSession.channel"),
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

skipped = []

def wrap(label, module_name, path):
    try:
        owner = importlib.import_module(module_name)
        *parents, name = path.split(".")
        for part in parents:
            owner = getattr(owner, part)
        getattr(owner, name)
    except (ImportError, AttributeError):
        skipped.append(label)  # the client changed shape: report the probe as absent, do not fail
        return
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
               "code": code, "events": events, "skipped": skipped}, handle)
sys.exit(code)
"""


INTERPRETER = "interpreter start (to first line)"
IMPORTS = "imports (click, pydantic, paramiko, wb)"


def profile_once(bench: BenchHost, argv: list[str], out: Path) -> tuple[dict[str, float], dict[str, int]]:
    """(phase -> ms, counter -> count) for one profiled `wb` process."""
    env = bench.wb_env() | {"WB_PROFILE_OUT": str(out), "WB_PROFILE_PROBES": json.dumps(PROBES)}
    spawned = time.time()
    proc = subprocess.run([sys.executable, "-c", CHILD, *argv], cwd=bench.project, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True)  # fmt: skip
    exited = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"profiled wb exited {proc.returncode}: {proc.stderr.decode()}")
    trace = json.loads(out.read_text())
    phases: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    phases[INTERPRETER] = trace["started"] - spawned
    phases[IMPORTS] = trace["imported"] - trace["started"]
    for label, begun, ended in trace["events"]:
        if label.startswith("#"):
            counts[label] += 1
        else:
            phases[label] += ended - begun
    probed = sum(value for label, value in phases.items() if not label.startswith(" ")) - phases[INTERPRETER]
    probed -= phases[IMPORTS]
    phases["other (cli parse, glue)"] = trace["ended"] - trace["wrapped"] - probed
    nested = sum(value for label, value in phases.items() if label.startswith("  "))
    phases["  other (send_ignore, keepalive setup)"] = phases["ssh session open"] - nested
    phases["interpreter exit (teardown)"] = exited - trace["ended"]
    phases["total (spawn to exit)"] = exited - spawned
    for label in trace["skipped"]:
        counts[f"# probe absent (function moved or renamed): {label.strip()}"] = 1
    return {label: value * 1000 for label, value in phases.items()}, dict(counts)


def import_breakdown(bench: BenchHost, argv: list[str], runs: int) -> dict[str, float]:
    """Median import time per package (self time of each module, summed by its top-level package).

    Modules of `weatherballoon` are grouped by subpackage (`weatherballoon.cli.sync`). Self times add up to
    the whole import cost without double counting, unlike the cumulative column.
    """
    per_run: list[dict[str, float]] = []
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-X", "importtime", WB, *argv], cwd=bench.project,
                              env=bench.wb_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              check=True)  # fmt: skip
        totals: dict[str, float] = defaultdict(float)
        for line in proc.stderr.splitlines():
            match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
            if match:
                parts = match.group(3).split(".")
                package = ".".join(parts[:3]) if parts[0] == "weatherballoon" else parts[0].lstrip("_")
                totals[package] += int(match.group(1)) / 1000
        per_run.append(totals)
    names = {name for run in per_run for name in run}
    return {name: statistics.median(run.get(name, 0.0) for run in per_run) for name in names}


def remote_side(bench: BenchHost, runs: int) -> dict[str, float]:
    """Costs on the host, timed inside one ssh command so no connection cost is included."""
    script = (
        'a=$(ls ~/.weatherballoon/agent/agent-*.pyz | head -1); '
        f"for i in $(seq {runs}); do "
        's=$(date +%s%N); python3 -I -S "$a" version >/dev/null; m=$(date +%s%N); '
        'python3 -I -S "$a" run --job-id "bench-$$-$i" --cwd "$HOME" --follow -- true; e=$(date +%s%N); '
        "echo $((m-s)) $((e-m)); done"
    )  # fmt: skip
    out = subprocess.run(bench.ssh_argv(script), capture_output=True, text=True, check=True).stdout
    rows = [[int(value) / 1e6 for value in line.split()] for line in out.splitlines()]
    return {
        "agent start: python3 -I -S agent.pyz version": statistics.median(row[0] for row in rows),
        "agent run --follow -- true (start, fork, job, status, follow)": statistics.median(row[1] for row in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="phase breakdown of a warm wb run")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-sync", action="store_true", help="profile `wb run --no-sync -- true`")
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="relay through the delay proxy with this RTT")
    args = parser.parse_args()
    argv = ["run", "--no-sync", "--", "true"] if args.no_sync else ["run", "--", "true"]
    with bench_host() as bench, tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        port = bench.host.port
        if args.rtt_ms:
            half = args.rtt_ms / 2
            port = stack.enter_context(DelayProxy(("127.0.0.1", port), up_ms=half, down_ms=half)).port
        bench.write_config(port)
        profile_once(bench, argv, Path(tmp) / "warm.json")  # installs the agent, initial sync
        runs, ssh_times = [], []
        for index in range(args.runs):
            runs.append(profile_once(bench, argv, Path(tmp) / f"run{index}.json"))
            start = time.perf_counter()
            subprocess.run(bench.ssh_argv("true", port=port), check=True)
            ssh_times.append((time.perf_counter() - start) * 1000)
        imports = import_breakdown(bench, argv, max(5, args.runs // 3))
        remote = remote_side(bench, 10)
    link = f"loopback + {args.rtt_ms:g} ms RTT (delay proxy)" if args.rtt_ms else "loopback"
    labels = list(runs[0][0])
    rows = [[label.replace(" ", "&nbsp;", 2) if label.startswith(" ") else label,
             f"{statistics.median(phases.get(label, 0.0) for phases, _ in runs):.1f}",
             f"{min(phases.get(label, 0.0) for phases, _ in runs):.1f}"] for label in labels]  # fmt: skip
    print(f"### wb {' '.join(argv)}, {link}: median of {args.runs} runs\n")
    print(markdown_table(["phase", "median ms", "min ms"], rows))
    for label in sorted({label for _, counts in runs for label in counts}):
        print(f"\n{label.lstrip('# ')}: {statistics.median(counts.get(label, 0) for _, counts in runs):g} per run")
    print(f"\nreference `ssh true` on the same link, interleaved: median {statistics.median(ssh_times):.0f} ms")
    print("\n### import time by package (python -X importtime, self times summed per package, median ms)\n")
    ranked = sorted(imports.items(), key=lambda item: -item[1])
    print(markdown_table(["package", "ms"], [[name, f"{value:.1f}"] for name, value in ranked[:20]]))
    print(f"\nall imports (under -X importtime, which inflates them): {sum(imports.values()):.1f} ms")
    print("\n### remote side (inside one ssh command)\n")
    for label, value in remote.items():
        print(f"- {label}: {value:.1f} ms")
    print("\nmachine: " + json.dumps(machine()))


if __name__ == "__main__":
    main()
