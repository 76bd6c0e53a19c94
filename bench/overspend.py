"""Overspend per failure mode, measured through `wb sandbox` with compressed times, N rounds.

    sudo python -m bench.overspend [--rounds 5] [--kernel-timer] [--json PATH]

Brings up three sandboxes side by side (lease 0.2 min, idle 0.1 min; one with the reaper every 2 s, one with
the reaper disabled, one with the reaper every 2 s for the budget scenario alone), then runs the fault
scenarios of `tests/e2e/sandbox_support.py` (the same code the e2e tests run) --rounds times; in each round
every scenario runs at once, each as its own IAM user. For each instance that ends it records the overspend:
seconds from the moment spending should stop (the end of the last lease anyone granted, the moment the owner
went over budget, the lifetime cap) to the moment EC2 (moto) shows it ended, observed by polling
DescribeInstances every 0.2 s. It prints a markdown table: median and max per failure mode against the
target (leaseMinutes + one reaper period, L + P) and the bound of docs/supervision.md (L + P + R, R the
reaper run's own time, read from its log), and which layer ended the instances.

`--kernel-timer` also runs, once, the double failure "agent killed and reaper disabled": only the kernel
`shutdown -h +N` the agent last armed is left, and N is whole minutes, so it takes over two minutes.
Every sandbox is taken down at the end, whatever happened.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from bench.stats import machine, markdown_table
from tests.e2e.sandbox_support import (
    IDLE_MINUTES,
    LEASE_MINUTES,
    REAPER_PERIOD_S,
    SANDBOXES,
    Lab,
    Outcome,
    bound_s,
    sandbox_up,
    start_scenarios,
    up_args,
)
from tests.integration.sandbox.conftest import sandbox_unavailable

MEASURED = ["happy", "client-killed", "no-reaper", "agent-killed", "net-cut", "net-cut-no-reaper", "budget", "spot",
            "reaped-outputs"]  # fmt: skip
FAILURE = {
    "1 happy path + reuse": "none (two runs, the second reuses)",
    "2 client killed (-9) mid-job": "`kill -9` of an attached `wb run`",
    "3 reaper disabled + client gone": "reaper off, then `kill -9` of the client",
    "4 agent killed": "`kill -9` of the agent daemon, job running",
    "5 network cut": "nftables drop in the host's namespace, job running",
    "5b network cut, reaper disabled (agent alone)": "the same, reaper off",
    "6 owner over budget": "`wb budget set OWNER 0.0001` while 2 instances run",
    "8 spot capacity error -> on-demand": "spot RunInstances answered InsufficientInstanceCapacity",
    "9 reaped job's outputs (lifetime cap mid-job)": "`maxHours` = 25 s reached mid-job, reaper off",
    "4b agent killed + reaper disabled (double failure)": "`kill -9` of the agent, reaper off",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--kernel-timer", action="store_true", help="also the agent-killed, reaper-off case (2+ min)")
    parser.add_argument("--json", type=Path, help="write every outcome here")
    args = parser.parse_args()
    why = sandbox_unavailable()
    if why:
        print(f"sandbox: {why}", file=sys.stderr)
        return 2
    periods = SANDBOXES
    outcomes: list[Outcome] = []
    failures: list[str] = []
    began = time.time()
    with tempfile.TemporaryDirectory(prefix="wb-overspend-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        labs = {}
        for where, period in periods.items():
            box = stack.enter_context(
                sandbox_up(root / f"data-{where}", root, up_args(period, LEASE_MINUTES, IDLE_MINUTES))
            )
            workdir = root / f"projects-{where}"
            workdir.mkdir()
            labs[where] = Lab(box, workdir, reaper_period_s=period)
            stack.callback(labs[where].close)
        progress(f"sandboxes up in {time.time() - began:.0f} s")
        with ThreadPoolExecutor(len(MEASURED) + 1, thread_name_prefix="scenario") as pool:
            slow = start_scenarios(labs, ["agent-killed-no-reaper"], pool) if args.kernel_timer else {}
            for index in range(args.rounds):
                futures = start_scenarios(labs, MEASURED, pool)
                for name, future in futures.items():
                    try:
                        found = future.result(timeout=600).outcomes
                    except Exception as exc:
                        failures.append(f"round {index + 1} {name}: {type(exc).__name__}: {exc}")
                        progress(failures[-1])
                        continue
                    outcomes.extend(found)
                progress(f"round {index + 1}/{args.rounds} done at {time.time() - began:.0f} s")
            for name, future in slow.items():
                try:
                    outcomes.extend(future.result(timeout=600).outcomes)
                except Exception as exc:
                    failures.append(f"{name}: {type(exc).__name__}: {exc}")
    print(report(outcomes, args.rounds))
    print(f"\nmachine: {json.dumps(machine())}")
    print(f"took {time.time() - began:.0f} s; {len(failures)} scenario runs failed")
    for failure in failures:
        print(f"- {failure}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([vars(o) | {"overspend_s": o.overspend_s} for o in outcomes], indent=1,
                                        default=str))  # fmt: skip
    over = [o for o in outcomes if not o.within_bound]
    return 1 if over or failures else 0


def report(outcomes: list[Outcome], rounds: int) -> str:
    cases: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        cases.setdefault(outcome.case, []).append(outcome)
    rows = []
    for case in sorted(cases, key=lambda name: (name.split()[0].rstrip("b"), name)):
        found = cases[case]
        spent = [o.overspend_s for o in found]
        after = [o.after_failure_s for o in found if o.after_failure_s is not None]
        by = Counter(o.stopped_by.split(" (the agent")[0] for o in found)
        bound = found[0].bound_s
        reaper_runs = max(o.r_s for o in found)
        rows.append([
            case, FAILURE.get(case, ""), found[0].basis, f"{bound:.1f}", f"{reaper_runs:.1f}", str(len(found)),
            f"{statistics.median(spent):.2f}", f"{max(spent):.2f}",
            f"{statistics.median(after):.1f}" if after else "-",
            ", ".join(f"{name}: {count}" for name, count in by.most_common()),
            f"{sum(o.within_target for o in found)}/{len(found)}",
            "yes" if all(o.within_bound for o in found) else "**no**",
        ])  # fmt: skip
    header = ["case", "failure injected", "spending should stop at", "target L+P s", "R max s", "n",
              "overspend median s", "overspend max s", "fault → end median s", "ended by", "within target",
              "within L+P+R"]  # fmt: skip
    title = (f"lease {LEASE_MINUTES:g} min, idle {IDLE_MINUTES:g} min, reaper every {REAPER_PERIOD_S:g} s "
             f"(target L+P {bound_s():g} s), {rounds} rounds")  # fmt: skip
    return f"#### Overspend per failure: {title}\n\n" + markdown_table(header, rows)


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
