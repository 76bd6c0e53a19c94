"""Sync against `rsync -a -e ssh` and `rclone sync` (sftp) on a generated ~5,000-file, ~200 MB tree.

    sudo python -m bench.sync_bench [--rounds 11] [--initial-rounds 3] [--rtt-ms 50] [--rtt-rounds 7]
                                    [--no-rclone] [--against REV] [--json PATH]

Every tool syncs the same local tree (`bench.sync_tree`) to its own folder on the same sshd, logged in as
a clean user (see `bench.bench_host`), and every process pays a fresh SSH connection:

- `rsync -a --delete --exclude=/.git -e 'ssh ...'`       the reference
- `wb sync (whole process)`: `python -m bench.sync_once`  interpreter, imports, connect, agent check, sync_up
- `wb sync (whole process, keeper warm)`: the same process through the connection keeper (`--keeper`): no
  SSH library, no handshake, and on the machine no login shell (the keeper's `agent serve`)
- `wb sync (open connection)`: sync_up alone, in this process, on a connection opened once (what it adds
  to a `wb run` that is connected anyway)
- `rclone sync :sftp:` (initial once, then like the others), unless --no-rclone
- with --against REV: `wb sync (whole process) @REV`, the same process from git revision REV
  (bench/against.py), for before and after side by side

Scenarios, each interleaved with a rotating order: initial (the destination and wb's record removed
first), no-op, one file changed (a line appended to one file before each round). Then no-op and one
change again through a delay proxy adding --rtt-ms of round trip (--rtt-rounds 0 skips it). Medians are
reported with the ratio to rsync; targets: no-op and one change <= 1.0x, initial <= 1.2x. "client CPU"
is the user + system time of the tool's own processes (rsync and ssh; the wb interpreter and its git),
from wait4, over the no-op rounds.

Bytecode: wb's process gets a bytecode cache of its own (`bench.bytecode`), filled by the warm-up run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.against import Revision, installed_revision
from bench.bench_host import BenchHost, bench_host
from bench.bytecode import with_bytecode_cache
from bench.stats import machine, markdown_table, summary_ms
from bench.sync_tree import make_tree, tree_size
from tests.support.delay_proxy import DelayProxy

REPO = Path(__file__).resolve().parent.parent
TARGETS = {"initial": 1.2, "no-op": 1.0, "one changed": 1.0}
KEEPER_TARGETS = {"no-op": 0.4, "one changed": 0.4}  # issue 12: through a warm connection keeper
CHANGED_FILE = "pkg00/mod0/file00000.py"


@dataclass
class Tool:
    name: str
    dest: Path  # absolute, on the machine
    run: Callable[[], float | None]  # returns the CPU seconds of its processes, when they are its own
    samples: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _check(argv: list[str], **kwargs: object) -> float:
    """Run a process to completion; return the CPU seconds it and its children used."""
    before = _children_cpu()
    done = subprocess.run(argv, capture_output=True, check=False, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}")
    return _children_cpu() - before


def _tools(
    bench: BenchHost, port: int, src: Path, base: Path, with_rclone: bool, against: Revision | None = None
) -> list[Tool]:
    wb_env = with_bytecode_cache(os.environ, bench.workdir / "pycache")
    ssh = " ".join(shlex.quote(arg) for arg in bench.ssh_argv(port=port)[:-1])
    known_hosts = str(bench.known_hosts_for(port))
    login = f"{bench.user}@127.0.0.1"
    rsync = ["rsync", "-a", "--delete", "--exclude=/.git", "-e", ssh, f"{src}/", f"{login}:{base}/bench-rsync/"]
    once = [
        sys.executable, "-m", "bench.sync_once", "--port", str(port), "--user", bench.user,
        "--key", str(bench.host.identity), "--known-hosts", known_hosts, str(src), f"{base}/wb/bench-wb",
    ]  # fmt: skip
    bench.write_config(port)  # the keeper connects as the project's config says
    kept = [*once[:-1], "--keeper", str(bench.project), f"{base}/wb/bench-wb-kept"]
    keeper_env = {**wb_env, "WB_RUNTIME_DIR": str(bench.workdir / "rt")}
    tools = [
        Tool("rsync -a -e ssh", base / "bench-rsync", lambda: _check(rsync)),
        Tool("wb sync (whole process)", base / "wb/bench-wb", lambda: _check(once, cwd=REPO, env=wb_env)),
        Tool(
            "wb sync (whole process, keeper warm)",
            base / "wb/bench-wb-kept",
            lambda: _check(kept, cwd=REPO, env=keeper_env),
        ),
        _open_connection_tool(bench, port, src, base / "wb/bench-wb-open"),
    ]
    tools.append(_warm_run_tool(bench, src, base / "wb/bench-wb-run"))
    if against is not None:
        dest = base / f"wb/bench-wb-{against.label}"
        old = [against.python, *once[1:-1], str(dest)]
        old_env = with_bytecode_cache(os.environ, bench.workdir / f"pycache-{against.label}")
        run_old = lambda: _check(old, cwd=against.tree, env=old_env)  # noqa: E731
        tools.insert(2, Tool(f"wb sync (whole process) @{against.label}", dest, run_old))
    if with_rclone and shutil.which("rclone"):
        rclone = [
            "rclone", "sync", "--links", "--exclude", "/.git/**", str(src), f":sftp:{base}/bench-rclone",
            "--sftp-host", "127.0.0.1", "--sftp-port", str(port), "--sftp-user", bench.user,
            "--sftp-key-file", str(bench.host.identity), "--sftp-known-hosts-file", known_hosts,
        ]  # fmt: skip
        env = {**os.environ, "RCLONE_CONFIG": "/dev/null"}
        tools.append(Tool("rclone sync (sftp)", base / "bench-rclone", lambda: _check(rclone, env=env)))
    return tools


WARM_RUN = "wb run -- true (warm client and keeper)"


def _warm_run_env(bench: BenchHost) -> dict[str, str]:
    return {**bench.wb_env(), "WB_KEEP_CONNECTION_MINUTES": "30", "WB_RUNTIME_DIR": str(bench.workdir / "rt-run")}


def _warm_run_tool(bench: BenchHost, src: Path, dest: Path) -> Tool:
    """What a user runs: `wb run -- true` in the tree itself (its config names the sshd and `dest`), the
    command handed to the warm client, the sync and the job in one agent process through the keeper."""
    config = json.loads((bench.project / ".weatherballoon.json").read_text())
    config["sync"] = {"adirServer": str(dest)}
    (src / ".weatherballoon.json").write_text(json.dumps(config))
    argv = bench.wb_argv("run", "-q", "--", "true")
    env = _warm_run_env(bench)
    return Tool(WARM_RUN, dest, lambda: _check(argv, cwd=src, env=env))


def _open_connection_tool(bench: BenchHost, port: int, src: Path, dest: Path) -> Tool:
    from weatherballoon.cli.providers.records import SshTarget
    from weatherballoon.cli.session.agent import RemoteAgent
    from weatherballoon.cli.session.connection import ConnectOptions, SshSession
    from weatherballoon.cli.sync.client import sync_up

    target = SshTarget(host="127.0.0.1", port=port, username=bench.user)
    options = ConnectOptions(known_hosts=bench.known_hosts_for(port), identity_file=str(bench.host.identity))
    agent = RemoteAgent(SshSession.open(target, options))

    def run() -> None:
        sync_up(agent, src, str(dest))

    return Tool("wb sync (open connection)", dest, run)


def _stop_keepers(bench: BenchHost) -> None:
    """End the keepers the keeper-warm tools started (their folder goes with the bench host)."""
    with contextlib.suppress(Exception):
        subprocess.run(bench.wb_argv("disconnect", "--all"), env=_warm_run_env(bench), capture_output=True, timeout=30)
    os.environ["WB_RUNTIME_DIR"] = str(bench.workdir / "rt")
    try:
        from weatherballoon.cli.keeper import client

        for path, _info in client.running_keepers():
            with contextlib.suppress(Exception):
                client.ask(path, {"op": "stop"})
    finally:
        del os.environ["WB_RUNTIME_DIR"]


def _forget(bench: BenchHost, tool: Tool) -> None:
    """Remove a tool's destination (and wb's record of it) so the next run is an initial sync."""
    from weatherballoon.remote.sync import state as sync_state

    shutil.rmtree(tool.dest, ignore_errors=True)
    os.environ["WB_AGENT_HOME"] = str(bench.host.user.home / ".weatherballoon")
    try:
        for record in (sync_state.record_path, sync_state.legacy_record_path):
            Path(record(os.path.realpath(tool.dest))).unlink(missing_ok=True)
    finally:
        del os.environ["WB_AGENT_HOME"]


def _destination_base(bench: BenchHost, dest_dir: Path | None) -> Path:
    if dest_dir is None:
        return bench.host.user.home
    base = dest_dir / bench.user
    base.mkdir(parents=True, exist_ok=True)
    os.chown(base, bench.host.user.uid, bench.host.user.gid)
    return base


def _measure(
    bench: BenchHost, tools: list[Tool], scenario: str, rounds: int, src: Path, progress: Callable[[str], None]
) -> None:
    for index in range(rounds):
        shift = index % len(tools)
        for tool in tools[shift:] + tools[:shift]:
            if scenario == "initial":
                _forget(bench, tool)
                if tool.name.startswith("rclone") and tool.samples.get(scenario):
                    continue  # rclone's initial takes many seconds: once is enough to compare
            elif scenario == "one changed" and tool is tools[shift]:
                with (src / CHANGED_FILE).open("a") as handle:
                    handle.write(f"# round {index}\n")
            start = time.perf_counter()
            cpu = tool.run()
            tool.samples.setdefault(scenario, []).append(time.perf_counter() - start)
            if cpu is not None:
                tool.cpu.setdefault(scenario, []).append(cpu)
        progress(f"  {scenario}: round {index + 1}/{rounds}")


def _report(title: str, tools: list[Tool], scenarios: list[str]) -> tuple[str, dict[str, object]]:
    reference = tools[0]
    header = [
        "tool",
        *[f"{name} median ms" for name in scenarios],
        *[f"{name} / rsync" for name in scenarios],
        "no-op min ms",
        "no-op client CPU ms",
    ]
    rows: list[list[str]] = []
    data: dict[str, object] = {}
    for tool in tools:
        medians = [summary_ms(tool.samples[name])["median"] for name in scenarios]
        ratios = [m / summary_ms(reference.samples[name])["median"] for m, name in zip(medians, scenarios, strict=True)]
        cpu = tool.cpu.get("no-op")
        cpu_text = f"{statistics.median(cpu) * 1000:.0f}" if cpu else "-"
        noop_min = f"{summary_ms(tool.samples['no-op'])['min']:.0f}"
        rows.append([tool.name, *[f"{m:.0f}" for m in medians], *[f"{r:.2f}x" for r in ratios], noop_min, cpu_text])
        entry: dict[str, object] = {name: summary_ms(tool.samples[name]) for name in scenarios}
        if cpu:
            entry["no-op client CPU ms"] = statistics.median(cpu) * 1000
        data[tool.name] = entry
    return f"### {title}\n\n{markdown_table(header, rows)}\n", data


def _verdicts(tools: list[Tool], scenarios: list[str]) -> list[str]:
    rsync = tools[0]
    wb = tools[1]
    lines = []
    for name in scenarios:
        ratio = summary_ms(wb.samples[name])["median"] / summary_ms(rsync.samples[name])["median"]
        verdict = "meets" if ratio <= TARGETS[name] else "misses"
        lines.append(f"{name}: wb (whole process) / rsync = {ratio:.2f}x ({verdict} the {TARGETS[name]}x target)")
    for label, kept in (
        ("wb (keeper warm)", next((tool for tool in tools if "keeper warm" in tool.name), None)),
        (WARM_RUN, next((tool for tool in tools if tool.name == WARM_RUN), None)),
    ):
        for name in [name for name in scenarios if name in KEEPER_TARGETS and kept is not None]:
            assert kept is not None
            ratio = summary_ms(kept.samples[name])["median"] / summary_ms(rsync.samples[name])["median"]
            target = KEEPER_TARGETS[name]
            verdict = "meets" if ratio <= target else "misses"
            lines.append(f"{name}: {label} / rsync = {ratio:.2f}x ({verdict} the {target}x target)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11, help="rounds of no-op and of one-changed")
    parser.add_argument("--initial-rounds", type=int, default=3)
    parser.add_argument("--rtt-ms", type=float, default=50.0, help="added round trip for the delayed link (0: skip)")
    parser.add_argument("--rtt-rounds", type=int, default=7, help="0: skip the delayed link")
    parser.add_argument("--no-rclone", action="store_true")
    parser.add_argument(
        "--dest-dir",
        type=Path,
        help="where the copies go on the machine (default: the login's home); "
        "a tmpfs such as /dev/shm/wb-bench takes the disk out of the comparison",
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--against", help="a git revision whose whole-process wb sync runs beside the current one")
    args = parser.parse_args()

    def progress(line: str) -> None:
        print(line.ljust(60), end="\r", file=sys.stderr, flush=True)

    results: dict[str, object] = {"machine": machine()}
    sections: list[str] = []
    verdicts: list[str] = []
    with contextlib.ExitStack() as stack:
        against = stack.enter_context(installed_revision(args.against)) if args.against else None
        bench = stack.enter_context(bench_host())
        src = make_tree(bench.workdir / "tree")
        files, size = tree_size(src)
        results["tree"] = {"files": files, "bytes": size}
        base = _destination_base(bench, args.dest_dir)
        results["destination"] = str(base)
        tools = _tools(bench, bench.host.port, src, base, not args.no_rclone, against)
        for tool in tools:  # warm: agent installed, destination populated, page cache hot, the keeper started
            _forget(bench, tool)
            tool.run()
        time.sleep(1.0)
        for tool in tools:
            tool.run()
        scenarios = ["initial", "no-op", "one changed"]
        for scenario in scenarios:
            rounds = args.initial_rounds if scenario == "initial" else args.rounds
            _measure(bench, tools, scenario, rounds, src, progress)
        title = f"Loopback: {files} files, {size / 1e6:.0f} MB"
        text, results["loopback"] = _report(title, tools, scenarios)
        sections.append(text)
        verdicts += _verdicts(tools, scenarios)
        if args.rtt_ms > 0 and args.rtt_rounds > 0:
            half = args.rtt_ms / 2
            with DelayProxy(("127.0.0.1", bench.host.port), up_ms=half, down_ms=half, lifetime_s=3600) as proxy:
                delayed = _tools(bench, proxy.port, src, base, not args.no_rclone, against)
                for tool in delayed:
                    tool.run()
                time.sleep(1.0)
                for tool in delayed:
                    tool.run()
                for scenario in ("no-op", "one changed"):
                    _measure(bench, delayed, scenario, args.rtt_rounds, src, progress)
            title = f"Loopback + {args.rtt_ms:g} ms RTT (delay proxy)"
            text, results[f"rtt_{args.rtt_ms:g}ms"] = _report(title, delayed, ["no-op", "one changed"])
            sections.append(text)
        _stop_keepers(bench)
        if args.dest_dir:
            shutil.rmtree(base, ignore_errors=True)
    results["load_after"] = machine()["load average (1, 5, 15 min)"]
    print(" " * 60, file=sys.stderr)
    print("\n".join(sections))
    print("\n".join(verdicts))
    print("machine: " + json.dumps(results["machine"]))
    print(f"copies on the machine under: {results['destination']}")
    print(f"load average after: {results['load_after']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
