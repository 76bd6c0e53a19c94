"""Where a warm `wb run` spends its time: a timeline from spawn to exit, median over many runs.

    sudo python -m bench.profile_run [--runs 15] [--no-sync] [--rtt-ms 0]
    sudo python -m bench.profile_run --sync-tree [--runs 15]     # bench.sync_once on the sync benchmark tree

Each run spawns a child interpreter that installs an import hook, then calls the real entry point
`run_cli(["run", "--", "true"])` against a real sshd. The client imports what it imports, when it imports it
(lazily, and in whatever threads it uses); as each probed module finishes loading, the hook wraps a few of
its functions (and paramiko's `Transport.start_client`) with wall-clock timers: `time.time()` pairs, which
add microseconds. The client's own `WB_TRACE=1` marks are read from stderr and placed on the same clock.
The parent records spawn and exit, so the interpreter's start and teardown are on the timeline too.

Separately, `python -X importtime` attributes import time to packages, and the remote side (the agent's
Python start) is timed inside one ssh command.

With --sync-tree the child runs `bench.sync_once` (a whole-process no-op sync, as `bench.sync_bench`
measures it) on the ~5,000-file tree of `bench.sync_tree` instead of `wb run`, with a bytecode cache of
its own as in `bench.sync_bench`; the remote side adds a no-op `sync-scan` of that tree.
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
from dataclasses import dataclass
from pathlib import Path

from bench.bench_host import WB, BenchHost, bench_host
from bench.bytecode import with_bytecode_cache
from bench.stats import machine, markdown_table
from bench.sync_tree import make_tree
from tests.support.delay_proxy import DelayProxy

REPO = Path(__file__).resolve().parent.parent

# label -> (module, attribute path). A probe whose function no longer exists is reported as absent.
# The ones that only `wb run` reaches are left out with --sync-tree.
WB_RUN_ONLY = ("config load", "provider lookup", "job index write", "job: stream until exit status", "fetch outputs",
               "close")  # fmt: skip
PROBES: dict[str, tuple[str, str]] = {
    "config load": ("weatherballoon.cli.config.loader", "load_config"),
    "provider lookup": ("weatherballoon.cli.providers.registry", "provider_class"),
    "ssh session open": ("weatherballoon.cli.session.connection", "SshSession.open"),
    "tcp connect": ("weatherballoon.cli.session.connection", "open_socket"),
    "banner + kex": ("paramiko.transport", "Transport.start_client"),
    "host key check": ("weatherballoon.cli.session.connection", "verify_host_key"),
    "auth (key load + publickey)": ("weatherballoon.cli.session.connection", "_authenticate"),
    "agent check (is it installed?)": ("weatherballoon.cli.session.agent", "RemoteAgent.ensure_installed"),
    "agent bundle (zip + hash)": ("weatherballoon.cli.session.bundle", "agent_bundle"),
    "channel open": ("weatherballoon.cli.session.connection", "SshSession.channel"),
    "exec request": ("paramiko.channel", "Channel.exec_command"),
    "sync": ("weatherballoon.cli.sync.client", "sync_up"),
    "sync: local scan (git ls-files, lstat, manifest)": ("weatherballoon.cli.sync.prepare", "prepare_upload"),
    "sync: agent exec (channel open + exec request)": ("weatherballoon.cli.session.connection", "SshSession.exec"),
    "sync: first agent command's installed-check settles": ("weatherballoon.cli.session.agent", "CheckedExec._settle"),
    "sync: manifest out, differences back": ("weatherballoon.cli.sync.client", "exchange"),
    "sync: diff": ("weatherballoon.cli.sync.client", "diff"),
    "job index write": ("weatherballoon.cli.jobs.index", "save"),
    "job: stream until exit status": ("weatherballoon.cli.jobs.attach", "pump"),
    "fetch outputs": ("weatherballoon.cli.jobs.run_job", "fetch_outputs"),
    "close": ("weatherballoon.cli.providers.base", "Provider.close"),
}

CHILD = r"""
import functools, importlib.abc, json, os, sys, threading, time
from collections import defaultdict
started = time.time()
events, absent, by_module = [], [], defaultdict(list)
for label, (module_name, path) in json.loads(os.environ["WB_PROFILE_PROBES"]).items():
    by_module[module_name].append((label, path))


def wrap(module, label, path):
    owner = module
    *parents, name = path.split(".")
    for part in parents:
        owner = getattr(owner, part, None)
    raw = owner.__dict__.get(name) if owner is not None and hasattr(owner, "__dict__") else None
    if raw is None:
        absent.append(label)
        return
    is_classmethod = isinstance(raw, classmethod)
    original = raw.__func__ if is_classmethod else raw

    @functools.wraps(original)
    def timed(*args, **kwargs):
        start = time.time()
        try:
            return original(*args, **kwargs)
        finally:
            events.append((label, threading.current_thread().name, start, time.time()))

    setattr(owner, name, classmethod(timed) if is_classmethod else timed)


class Probe(importlib.abc.MetaPathFinder):
    # Finds probed modules through the other finders, and wraps their functions once they have loaded.
    def find_spec(self, name, path, target=None):
        if name not in by_module:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            for label, attr in by_module[name]:
                wrap(module, label, attr)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, Probe())
if os.environ.get("WB_PROFILE_ENTRY") == "sync_once":
    import bench.sync_once

    sys.argv = ["sync_once", *sys.argv[1:]]
    bench.sync_once.main()
    code = 0
else:
    from weatherballoon.cli.main import run_cli

    code = run_cli(sys.argv[1:])
ended = time.time()
seen = {module for module in by_module if module in sys.modules}
absent += [label for module in by_module if module not in seen for label, _ in by_module[module]]
with open(os.environ["WB_PROFILE_OUT"], "w") as handle:
    json.dump({"started": started, "ended": ended, "code": code, "events": events, "absent": absent}, handle)
if os.environ.get("WB_PROFILE_ENTRY") == "sync_once":  # it ends as bench.sync_once does: no teardown
    sys.stdout.flush()
    os._exit(code)
sys.exit(code)
"""

TRACE_LINE = re.compile(r"wb-trace\s+([\d.]+) ms\s+(.*)")


@dataclass(frozen=True)
class Subject:
    """What is profiled: `wb ARGV` in the bench project, or `bench.sync_once ARGV` from the repository."""

    argv: list[str]
    sync_once: bool = False
    pycache: Path | None = None  # a bytecode cache of its own (PYTHONPYCACHEPREFIX), as bench.sync_bench

    def env(self, bench: BenchHost) -> dict[str, str]:
        env = bench.wb_env()
        return env if self.pycache is None else with_bytecode_cache(env, self.pycache)

    def cwd(self, bench: BenchHost) -> Path:
        return REPO if self.sync_once else bench.project

    def probes(self) -> dict[str, tuple[str, str]]:
        if not self.sync_once:
            return PROBES
        return {label: probe for label, probe in PROBES.items() if label not in WB_RUN_ONLY}


def profile_once(bench: BenchHost, subject: Subject, out: Path) -> list[tuple[str, str, float, float]]:
    """One profiled run: (label, thread, start ms, duration ms) on a clock that starts at spawn."""
    env = subject.env(bench) | {
        "WB_PROFILE_OUT": str(out), "WB_PROFILE_PROBES": json.dumps(subject.probes()), "WB_TRACE": "1",
        "WB_PROFILE_ENTRY": "sync_once" if subject.sync_once else "wb",
    }  # fmt: skip
    spawned = time.time()
    proc = subprocess.run([sys.executable, "-c", CHILD, *subject.argv], cwd=subject.cwd(bench), env=env,
                          stdin=subprocess.DEVNULL, capture_output=True)  # fmt: skip
    exited = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"profiled process exited {proc.returncode}: {proc.stderr.decode()}")
    trace = json.loads(out.read_text())
    ms = 1000.0
    rows = [("interpreter start, site", "main", 0.0, (trace["started"] - spawned) * ms)]
    counts: dict[str, int] = defaultdict(int)
    for label, thread, start, end in sorted(trace["events"], key=lambda event: event[2]):
        counts[label] += 1
        name = f"{label} #{counts[label]}" if counts[label] > 1 else label
        rows.append((name, "main" if thread == "MainThread" else thread, (start - spawned) * ms, (end - start) * ms))
    for line in proc.stderr.decode(errors="replace").splitlines():
        match = TRACE_LINE.match(line)
        if match:  # WB_TRACE marks count from the process's start, as our clock does from spawn
            rows.append((f"mark: {match.group(2)}", "main", float(match.group(1)), 0.0))
    teardown = "exit (os._exit, no teardown)" if subject.sync_once else "interpreter teardown"
    rows.append((teardown, "main", (trace["ended"] - spawned) * ms, (exited - trace["ended"]) * ms))
    rows.append(("exit", "main", (exited - spawned) * ms, 0.0))
    rows += [(f"probe absent (moved or renamed): {label}", "-", -1.0, 0.0) for label in trace["absent"]]
    return rows


def timeline(runs: list[list[tuple[str, str, float, float]]]) -> list[list[str]]:
    """Median start and duration per phase over runs, in time order."""
    starts: dict[tuple[str, str], list[float]] = defaultdict(list)
    lengths: dict[tuple[str, str], list[float]] = defaultdict(list)
    for rows in runs:
        for label, thread, start, length in rows:
            starts[(label, thread)].append(start)
            lengths[(label, thread)].append(length)
    table = []
    for key in sorted(starts, key=lambda key: statistics.median(starts[key])):
        label, thread = key
        seen = f" (in {len(starts[key])} of {len(runs)} runs)" if len(starts[key]) < len(runs) else ""
        length = statistics.median(lengths[key])
        table.append([
            f"{statistics.median(starts[key]):.1f}", f"{length:.1f}" if length else "",
            f"{min(lengths[key]):.1f}" if length else "", thread, label + seen,
        ])  # fmt: skip
    return table


def import_breakdown(bench: BenchHost, subject: Subject, runs: int) -> dict[str, float]:
    """Median import time per package (self time of each module, summed by its top-level package).

    Modules of `weatherballoon` are grouped by subpackage (`weatherballoon.cli.sync`). Self times add up to
    the whole import cost without double counting, unlike the cumulative column.
    """
    per_run: list[dict[str, float]] = []
    entry = ["-m", "bench.sync_once"] if subject.sync_once else [WB]
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-X", "importtime", *entry, *subject.argv], cwd=subject.cwd(bench),
                              env=subject.env(bench), stdin=subprocess.DEVNULL, capture_output=True, text=True,
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


def remote_side(bench: BenchHost, runs: int, sync_root: str | None = None, request: bytes = b"") -> dict[str, float]:
    """Costs on the host, timed inside one ssh command so no connection cost is included. With `sync_root`,
    also a no-op `sync-scan` of it, fed `request` (the client's manifest)."""
    from weatherballoon.cli.session.agent import RemoteAgent

    def agent(*args: str) -> str:  # the agent's command line as wb sends it, minus the exec
        return RemoteAgent(None).command_line(list(args)).removeprefix("exec ")  # type: ignore[arg-type]

    scan = f"{agent('sync-scan', sync_root)} < $req >/dev/null" if sync_root else "true"
    script = (
        "req=$(mktemp); cat > $req; "
        f"for i in $(seq {runs}); do "
        f"s=$(date +%s%N); {agent('version')} >/dev/null; m=$(date +%s%N); "
        f'{agent("run")} --job-id "bench-$$-$i" --cwd "$HOME" --follow -- true; e=$(date +%s%N); '
        f"{scan}; f=$(date +%s%N); "
        "echo $((m-s)) $((e-m)) $((f-e)); done; rm -f $req"
    )  # fmt: skip
    done = subprocess.run(bench.ssh_argv(script), input=request, capture_output=True, check=True)
    rows = [[int(value) / 1e6 for value in line.split()] for line in done.stdout.decode().splitlines()]
    costs = {
        "agent start: python3 -I -S -c ... version": statistics.median(row[0] for row in rows),
        "agent run --follow -- true (start, fork, job, status, follow)": statistics.median(row[1] for row in rows),
    }
    if sync_root:
        costs["agent sync-scan, no-op (start, record, lstat, compare)"] = statistics.median(row[2] for row in rows)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description="timeline of a warm wb run")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-sync", action="store_true", help="profile `wb run --no-sync -- true`")
    parser.add_argument("--sync-tree", action="store_true", help="profile bench.sync_once on the sync benchmark tree")
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="relay through the delay proxy with this RTT")
    args = parser.parse_args()
    argv = ["run", "--no-sync", "--", "true"] if args.no_sync else ["run", "--", "true"]
    with bench_host() as bench, tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        port = bench.host.port
        if args.rtt_ms:
            half = args.rtt_ms / 2
            port = stack.enter_context(DelayProxy(("127.0.0.1", port), up_ms=half, down_ms=half)).port
        bench.write_config(port)
        subject = Subject(argv)
        sync_root = None
        request = b""
        if args.sync_tree:
            from weatherballoon.cli.sync.prepare import prepare_upload

            tree = make_tree(bench.workdir / "tree")
            sync_root = "~/wb/profile-tree"
            once = ["--port", str(port), "--user", bench.user, "--key", str(bench.host.identity),
                    "--known-hosts", str(bench.known_hosts_for(port)), str(tree), sync_root]  # fmt: skip
            subject = Subject(once, sync_once=True, pycache=bench.workdir / "pycache")
            request = prepare_upload(tree).request
        for index in range(2):  # installs the agent, initial sync, remembers the target for early connects
            profile_once(bench, subject, Path(tmp) / f"warm{index}.json")
        runs, ssh_times = [], []
        for index in range(args.runs):
            runs.append(profile_once(bench, subject, Path(tmp) / f"run{index}.json"))
            start = time.perf_counter()
            subprocess.run(bench.ssh_argv("true", port=port), check=True)
            ssh_times.append((time.perf_counter() - start) * 1000)
        imports = import_breakdown(bench, subject, max(5, args.runs // 3))
        remote = remote_side(bench, 10, sync_root, request)
    link = f"loopback + {args.rtt_ms:g} ms RTT (delay proxy)" if args.rtt_ms else "loopback"
    what = "bench.sync_once (no-op sync of the sync benchmark tree)" if args.sync_tree else f"wb {' '.join(argv)}"
    print(f"### {what}, {link}: timeline, median of {args.runs} runs\n")
    header = ["starts at ms", "takes ms (median)", "takes ms (min)", "thread", "phase"]
    print(markdown_table(header, timeline(runs)))
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
