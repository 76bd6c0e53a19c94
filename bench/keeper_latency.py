"""Keeper-warm `wb run` against fresh `ssh host true` and against ssh over a warm ControlMaster, interleaved.

    sudo python -m bench.keeper_latency [--rounds 20] [--rtt-ms 50] [--rtt-rounds 10] [--json PATH]

Three links, each on its own throwaway login user and sshd (`bench.bench_host`):

- plain shell, loopback;
- heavy rc, loopback: the login shell's ~/.bashrc runs a pyenv/conda-like init of about 100 ms (HEAVY_RC);
- plain shell, loopback plus a delay proxy adding --rtt-ms of round trip.

Each round runs, in a rotating order:

- `ssh -o ControlMaster=no ... true`                       the reference: a fresh OpenSSH connection
- `ssh -o ControlPath=P ... true`                          OpenSSH over a warm ControlMaster (ControlPersist)
- `wb run -- true`, keeper warm                            a no-op sync of a tiny git project, the job, its code
- `wb run --no-sync -- true`, keeper warm
- `wb run -- true`, no keeper (keepConnectionMinutes 0)    the same command connecting itself, for comparison
- `ssh echo hi` and `wb run -- echo hi` (keeper warm)      time to the first stdout byte
- `python -I -S -c pass`                                    no connection: the floor of any Python client
- `wb run -- true`, keeper warm, WB_WARM_CLIENT=0          the command importing wb itself (no warm client)

"keeper warm": WB_KEEP_CONNECTION_MINUTES=30, and a first run started the keeper before the rounds. "client
CPU" is the wb (or ssh) process alone: the keeper's own CPU is not in it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.bench_host import BenchHost, bench_host
from bench.run_latency import Case, report, time_once
from bench.stats import machine, summary_ms
from tests.support.delay_proxy import DelayProxy

TARGETS = {"fresh ssh": 0.6, "fresh ssh, heavy rc": 0.5, "ControlMaster": 1.5}
KEEPER_TRUE = "wb run -- true (no-op sync), keeper warm"
WITHOUT_WARM_CLIENT = "wb run -- true (no-op sync), keeper warm, no warm client"


@contextlib.contextmanager
def control_master(bench: BenchHost, port: int) -> Iterator[list[str]]:
    """A warm OpenSSH master for this port; yields the argv prefix of a client that uses it."""
    path = bench.workdir / f"cm-{port}"
    base = bench.ssh_argv(port=port)
    base[base.index("ControlPath=none")] = f"ControlPath={path}"
    master = [*base[:-1], "-o", "ControlPersist=no", "-N", base[-1]]
    master[master.index("ControlMaster=no")] = "ControlMaster=yes"
    proc = subprocess.Popen(master, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not path.exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the ControlMaster did not come up")
            time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.wait()


def cases_for(bench: BenchHost, port: int, via_master: list[str]) -> list[Case]:
    env = bench.wb_env()
    keep = {**env, "WB_KEEP_CONNECTION_MINUTES": "30", "WB_RUNTIME_DIR": str(bench.workdir / "rt")}
    direct = {**env, "WB_KEEP_CONNECTION_MINUTES": "0"}
    return [
        Case("ssh true", bench.ssh_argv("true", port=port), b""),
        Case("ssh true (warm ControlMaster)", [*via_master, "true"], b""),
        # The floor of any Python client: the interpreter alone, without site (wb's `wb` script also pays site).
        Case("python -I -S -c pass (no connection at all)", [sys.executable, "-I", "-S", "-c", "pass"], b""),
        Case(KEEPER_TRUE, bench.wb_argv("run", "--", "true"), b"", env=keep),
        Case("wb run --no-sync -- true, keeper warm", bench.wb_argv("run", "--no-sync", "--", "true"), b"", env=keep),
        Case(WITHOUT_WARM_CLIENT, bench.wb_argv("run", "--", "true"), b"", env={**keep, "WB_WARM_CLIENT": "0"}),
        Case("wb run -- true (no-op sync), no keeper", bench.wb_argv("run", "--", "true"), b"", env=direct),
        Case("ssh echo hi", bench.ssh_argv("echo", "hi", port=port), b"hi\n"),
        Case("ssh echo hi (warm ControlMaster)", [*via_master, "echo", "hi"], b"hi\n"),
        Case("wb run -- echo hi, keeper warm", bench.wb_argv("run", "--", "echo", "hi"), b"hi\n", env=keep),
    ]


def measure(bench: BenchHost, port: int, rounds: int, progress: Callable[[str], None]) -> list[Case]:
    bench.write_config(port)
    with control_master(bench, port) as via_master:
        cases = cases_for(bench, port, via_master)
        for case in cases:  # warm: agent installed, initial sync done, the keeper started
            time_once(case, case.env or bench.wb_env(), bench.project)
        time.sleep(1.0)  # the keeper listens once its own connection is up
        for case in cases:
            time_once(case, case.env or bench.wb_env(), bench.project)
            case.samples.clear()
            case.first_byte.clear()
            case.cpu.clear()
        for index in range(rounds):
            shift = index % len(cases)
            for case in cases[shift:] + cases[:shift]:
                time_once(case, case.env or bench.wb_env(), bench.project)
            progress(f"  round {index + 1}/{rounds}")
    return cases


def ratios(cases: list[Case]) -> dict[str, float]:
    median = {case.name: summary_ms(case.samples)["median"] for case in cases}
    first = {case.name: summary_ms(case.first_byte)["median"] for case in cases if case.first_byte}
    return {
        "keeper wb run -- true / fresh ssh true": median[KEEPER_TRUE] / median["ssh true"],
        "keeper wb run -- true / ControlMaster ssh true": median[KEEPER_TRUE] / median["ssh true (warm ControlMaster)"],
        "keeper wb run -- echo hi first byte / fresh ssh echo hi": first["wb run -- echo hi, keeper warm"]
        / first["ssh echo hi"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="keeper-warm wb run against fresh and ControlMaster ssh")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--rtt-ms", type=float, default=50.0)
    parser.add_argument("--rtt-rounds", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    def progress(line: str) -> None:
        print(line, end="\r", flush=True)

    results: dict[str, object] = {"machine": machine(), "rounds": args.rounds}
    sections = []
    verdicts = []
    links: list[tuple[str, bool, float, int]] = [
        ("plain shell, loopback", False, 0.0, args.rounds),
        ("heavy rc (~100 ms init), loopback", True, 0.0, args.rounds),
    ]
    if args.rtt_ms > 0:
        links.append((f"plain shell, loopback + {args.rtt_ms:g} ms RTT", False, args.rtt_ms, args.rtt_rounds))
    for title, heavy, rtt_ms, rounds in links:
        with bench_host(heavy_rc=heavy) as bench:
            if rtt_ms:
                half = rtt_ms / 2
                with DelayProxy(("127.0.0.1", bench.host.port), up_ms=half, down_ms=half, lifetime_s=3600) as proxy:
                    cases = measure(bench, proxy.port, rounds, progress)
            else:
                cases = measure(bench, bench.host.port, rounds, progress)
            end_env = {**bench.wb_env(), "WB_RUNTIME_DIR": str(bench.workdir / "rt")}
            with contextlib.suppress(Exception):
                subprocess.run(bench.wb_argv("disconnect", "--all"), cwd=bench.project, env=end_env, timeout=30)
        text, data = report(f"{title}, {rounds} rounds", cases)
        found = ratios(cases)
        data["ratios"] = found
        results[title] = data
        sections.append(text + "\n" + "\n".join(f"- {name}: **{value:.2f}x**" for name, value in found.items()) + "\n")
        target = TARGETS["fresh ssh, heavy rc"] if heavy else TARGETS["fresh ssh"]
        fresh = found["keeper wb run -- true / fresh ssh true"]
        master = found["keeper wb run -- true / ControlMaster ssh true"]
        verdicts.append(f"{title}: {fresh:.2f}x fresh ssh ({'meets' if fresh <= target else 'misses'} <= {target}x);"
                        f" {master:.2f}x ControlMaster ({'meets' if master <= 1.5 else 'misses'} <= 1.5x)")  # fmt: skip
    results["machine_after"] = machine()["load average (1, 5, 15 min)"]
    print(" " * 40)
    print("\n".join(sections))
    print("\n".join(verdicts))
    print("machine: " + json.dumps(results["machine"]))
    print(f"load average after: {results['machine_after']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
