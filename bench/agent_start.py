"""What each agent command costs on the machine, from process start to exit, and against an older agent.

    sudo python -m bench.agent_start [--rounds 30] [--against REV] [--python python3]

The agent is started as `wb` starts it (`python3 -I -S -c ...` with the unpacked bundle on sys.path) inside
one ssh command on a loopback sshd, so no connection cost is counted. With --against, the bundle of git
revision REV (its `remote/` and `lambdas/`) is installed beside the current one and the two are timed
interleaved, command by command and round by round, so load on the machine hits both alike. Reported: the
median wall time of each command, side by side.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
from pathlib import Path

from weatherballoon.cli.session.agent import RemoteAgent
from weatherballoon.cli.session.agent_install import install_command
from weatherballoon.cli.session.bundle import _MAIN, AgentBundle, agent_bundle

from bench.bench_host import BenchHost, bench_host
from bench.stats import machine, markdown_table

REPO = Path(__file__).resolve().parent.parent
TREE_FILES = 20
# label -> the agent's arguments ($J: a job id unique to the round; $T: the synced tree; $H: the home).
COMMANDS = {
    "version": "version",
    "run --follow -- true": 'run --job-id "$J" --cwd "$H" --follow -- true',
    "status ID": 'status "$J"',
    "sync-scan, no-op (20 files)": 'sync-scan "$T" < "$REQ"',
    "claim (no daemon: exit 4)": "claim abc123",
    "daemon --status": "daemon --status",
}


def bundle_at(revision: str) -> AgentBundle:
    """The agent bundle as the client of `revision` packs it (its `__main__.py`, `remote/` and `lambdas/`)."""

    def git(*args: str) -> bytes:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, check=True).stdout

    names = git("ls-tree", "-r", "--name-only", revision, "--", "remote", "lambdas").decode().split()
    entries = [("__main__.py", _MAIN), ("weatherballoon/__init__.py", b"")]
    entries += [
        (f"weatherballoon/{name}", git("show", f"{revision}:{name}"))
        for name in sorted(names)
        if name.endswith((".py", ".json"))
    ]
    return AgentBundle(entries=tuple(entries))


def install(bench: BenchHost, bundle: AgentBundle, python: str) -> None:
    subprocess.run(bench.ssh_argv(install_command(python, bundle.name)), input=bundle.data, check=True)


def agent_line(bundle: AgentBundle, python: str, args: str) -> str:
    """The command line `wb` runs for this agent, less its `exec`, with `args` left for the shell to expand."""
    agent = RemoteAgent(None, python=python, bundle=bundle)  # type: ignore[arg-type]
    return agent.command_line([]).removeprefix("exec ") + " " + args


def make_tree(root: Path) -> bytes:
    """A small git project; the manifest the client would send for it."""
    from weatherballoon.cli.sync.prepare import prepare_upload

    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for index in range(TREE_FILES):
        (root / f"file{index}.py").write_text(f"VALUE = {index}\n" * 40)
    return prepare_upload(root).request


def measure(
    bench: BenchHost, bundles: dict[str, AgentBundle], rounds: int, python: str
) -> tuple[dict[tuple, list], dict[tuple, set]]:
    """(label, bundle name) -> wall times in ms; and -> the exit statuses seen (each bundle should agree)."""
    tree = bench.workdir / "tree"
    request = make_tree(tree)
    remote_tree = bench.host.user.home / "tree"
    subprocess.run(["cp", "-a", str(tree), str(remote_tree)], check=True)
    subprocess.run(["chown", "-R", f"{bench.user}:", str(remote_tree)], check=True)
    forward, backward = [], []  # the bundles alternate which goes first, so neither gains from going second
    for label, args in COMMANDS.items():
        pair = []
        for index, (name, bundle) in enumerate(bundles.items()):
            line = agent_line(bundle, python, args.replace('"$J"', f'"$J-{index}"'))
            pair.append(
                f"s=$(date +%s%N); {line} >/dev/null 2>&1; c=$?; e=$(date +%s%N); "
                f"echo {shlex.quote(name)}@{shlex.quote(label)}@$((e-s))@$c"
            )
        forward += pair
        backward += reversed(pair)
    script = (
        'REQ=$(mktemp); cat > "$REQ"; H="$HOME"; T="$HOME/tree"; '
        f'for i in $(seq 0 {rounds}); do J="b$$-$i"; '
        f"if [ $((i % 2)) = 0 ]; then {'; '.join(forward)}; else {'; '.join(backward)}; fi; "
        'done; rm -f "$REQ"'
    )
    done = subprocess.run(bench.ssh_argv(script), input=request, capture_output=True, check=True)
    samples: dict[tuple, list] = {}
    statuses: dict[tuple, set] = {}
    for line in done.stdout.decode().splitlines():
        name, label, ns, status = line.split("@")
        samples.setdefault((label, name), []).append(int(ns) / 1e6)
        statuses.setdefault((label, name), set()).add(int(status))
    for values in samples.values():
        del values[0]  # round 0 writes the bytecode caches
    return samples, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description="start cost of each agent command, against an older agent")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--against", help="a git revision whose agent is timed beside the current one")
    parser.add_argument("--python", default="python3", help="the interpreter on the host (as provisioner.python)")
    args = parser.parse_args()
    bundles = {}
    if args.against:
        bundles[args.against] = bundle_at(args.against)
    bundles["current"] = agent_bundle()
    with bench_host() as bench:
        for bundle in bundles.values():
            install(bench, bundle, args.python)
        samples, statuses = measure(bench, bundles, args.rounds, args.python)
    header = ["command", "exit", *(f"{name} ms" for name in bundles)]
    if args.against:
        header.append("difference ms")
    rows = []
    for label in COMMANDS:
        medians = [statistics.median(samples[(label, name)]) for name in bundles]
        seen = sorted({status for name in bundles for status in statuses[(label, name)]})
        row = [label, "/".join(map(str, seen)), *(f"{value:.1f}" for value in medians)]
        if args.against:
            row.append(f"{medians[-1] - medians[0]:+.1f}")
        rows.append(row)
    print(f"### agent commands on the machine ({args.python}), median of {args.rounds} interleaved rounds\n")
    print(markdown_table(header, rows))
    print("\nmachine: " + str(machine()))


if __name__ == "__main__":
    main()
