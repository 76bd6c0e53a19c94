"""The project on N machines: one upload and a fan-out from rank 0, against N separate uploads.

    sudo python -m bench.fanout [--nodes 3] [--rounds 3] [--mb 40]

Three (N) real sshd hosts, each in its own network namespace at its own address, that reach one another
(tests/support/gang.py). A project of --mb MiB of random (incompressible) files is sent to all of them,
each round from scratch (fresh remote roots), two ways:

- gang: `wb run --nodes N -- true`: the laptop syncs to rank 0, rank 0 serves the other ranks;
- separate: N projects of one host each, `wb run -- true` on all N at once (the best N uploads can do).

The laptop's uplink is what the laptop itself sends to the hosts' addresses: an nftables counter on this
namespace's `output` hook, which sees locally made packets only (the fan-out's traffic between the hosts is
forwarded through this namespace and never passes it). Times are whole `wb run` commands, and the fan-out
step alone as wb reports it. Links here are veth pairs (memory speed): the uplink saving is in the bytes;
at a real uplink of R bytes/s, each saved byte is 1/R s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.stats import machine
from tests.support.gang import gang_hosts, gang_project
from tests.support.project import make_project
from tests.support.sshd import keygen

TABLE = "wb_bench_uplink"
NETWORK = "10.213.0.0/16"


def counter_start() -> None:
    rules = (
        f"table ip {TABLE} {{\n"
        f"  chain out {{ type filter hook output priority 0; policy accept; ip daddr {NETWORK} counter; }}\n"
        "}\n"
    )
    subprocess.run(["nft", "delete", "table", "ip", TABLE], capture_output=True, check=False)
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)


def counter_bytes() -> int:
    out = subprocess.run(["nft", "-j", "list", "table", "ip", TABLE], capture_output=True, text=True, check=True)
    for item in json.loads(out.stdout)["nftables"]:
        rule = item.get("rule")
        if rule:
            for expr in rule["expr"]:
                if "counter" in expr:
                    return int(expr["counter"]["bytes"])
    raise RuntimeError("no counter")


def fill(root: Path, mb: int) -> None:
    (root / "data").mkdir()
    for index in range(mb):
        (root / "data" / f"part-{index:03d}.bin").write_bytes(os.urandom(1 << 20))


def timed(argv_project: list[tuple[object, list[str]]]) -> tuple[float, list[str]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(argv_project)) as pool:
        results = list(pool.map(lambda item: item[0].wb(*item[1], timeout=600), argv_project))  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - started
    for result in results:
        if result.returncode != 0:
            raise RuntimeError(result.stderr.decode()[-2000:])
    return elapsed, [result.stderr.decode() for result in results]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mb", type=int, default=40)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wb-bench-fanout-"))
    identity = keygen(work / "id")
    rows: dict[str, list[tuple[float, int, float]]] = {"gang": [], "separate": []}
    try:
        for round_no in range(args.rounds):
            with gang_hosts(work / f"hosts-{round_no}", identity, args.nodes) as hosts:
                gang_dir = work / f"gang-{round_no}"
                gang_dir.mkdir()
                project = gang_project(gang_dir, hosts, outputs=[])
                fill(project.root, args.mb)
                counter_start()
                elapsed, (stderr,) = timed([(project, ["run", "--nodes", str(args.nodes), "--", "true"])])
                fanned = re.search(r"fanned out from rank 0 to \d+ ranks in ([0-9.]+) s", stderr)
                rows["gang"].append((elapsed, counter_bytes(), float(fanned.group(1)) if fanned else float("nan")))
                singles = []
                for rank, item in enumerate(hosts):
                    folder = work / f"single-{round_no}-{rank}"
                    folder.mkdir()
                    single = make_project(folder, item.host)
                    config = json.loads((single.root / ".weatherballoon.json").read_text())
                    config["sync"] = {"outputs": []}
                    (single.root / ".weatherballoon.json").write_text(json.dumps(config))
                    fill(single.root, 0)
                    subprocess.run(["cp", "-r", str(project.root / "data"), str(single.root)], check=True)
                    singles.append((single, ["run", "--", "true"]))
                counter_start()
                elapsed, _ = timed(singles)
                rows["separate"].append((elapsed, counter_bytes(), float("nan")))
    finally:
        subprocess.run(["nft", "delete", "table", "ip", TABLE], capture_output=True, check=False)
    print(f"#### {args.nodes} ssh hosts (netns), {args.mb} MiB of random files, {args.rounds} rounds; {machine()}")
    print()
    print("| way | wall time, median (s) | laptop uplink, median (MiB) | fan-out step (s) |")
    print("|---|---|---|---|")
    for way, label in (("gang", f"`wb run --nodes {args.nodes}`: 1 upload + fan-out"),
                       ("separate", f"{args.nodes} separate `wb run`, side by side")):  # fmt: skip
        times = [row[0] for row in rows[way]]
        sent = [row[1] / (1 << 20) for row in rows[way]]
        fan = [row[2] for row in rows[way] if row[2] == row[2]]
        fan_text = f"{statistics.median(fan):.2f}" if fan else "-"
        print(f"| {label} | {statistics.median(times):.2f} | {statistics.median(sent):.1f} | {fan_text} |")


if __name__ == "__main__":
    main()
