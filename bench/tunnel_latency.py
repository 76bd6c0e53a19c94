"""Warm `wb run` and time to first output through the EC2 Instance Connect Endpoint's tunnel (a key pushed
per connection, the WebSocket over TLS) against a direct connection, in `wb sandbox`.

    sudo python -m bench.tunnel_latency [--rounds 15] [--json PATH]

Brings up a sandbox (reaper every 5 s, lease 0.5 min, idle 5 min), launches one machine per path with a first
`wb run` each (`connect: private-ip` with the launch key, and `eice`, the sandbox's default), then per round,
in a rotating order, `wb run --no-sync -- true` and `wb run -- echo hi` on each path, waiting (untimed) for
the machine's row to be idle between two runs. The tunnel path pays, per command: SendSSHPublicKey to moto,
DescribeStacks and DescribeInstanceConnectEndpoints, a TLS handshake, the WebSocket upgrade with its SigV4
check, and no early connection (the prefetch needs nothing AWS; this path needs AWS for its key). On AWS the
endpoint adds the round trips to the endpoint service as well; the sandbox's are loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from weatherballoon.lambdas.records import InstanceState

from bench.aws_latency import IDLE_MINUTES, LEASE_MINUTES, REAPER_PERIOD_S, tiny_project
from bench.bytecode import with_bytecode_cache
from bench.run_latency import Case, time_once
from bench.stats import machine, markdown_table, summary_ms
from tests.e2e.sandbox_support import Lab, sandbox_up, up_args, wait_for
from tests.integration.sandbox.conftest import sandbox_unavailable
from tests.support.project import WB

PATHS = {"direct (private-ip)": {"WB_CONNECT": "private-ip"}, "tunnel (eice)": {}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    why = sandbox_unavailable()
    if why:
        print(f"sandbox: {why}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="wb-tunnel-latency-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        os.chmod(root, 0o755)
        box = stack.enter_context(
            sandbox_up(root / "sandbox", root, up_args(REAPER_PERIOD_S, LEASE_MINUTES, IDLE_MINUTES))
        )
        lab = Lab(box, root / "unused", reaper_period_s=REAPER_PERIOD_S, lease_minutes=LEASE_MINUTES,
                  idle_minutes=IDLE_MINUTES)  # fmt: skip
        stack.callback(lab.close)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("WB_", "AWS_"))}
        base.update(box.exported)
        setups: list[tuple[str, dict[str, str], Path, str]] = []
        for index, (name, extra) in enumerate(PATHS.items()):
            project = tiny_project(root / f"proj{index}")
            env = with_bytecode_cache({**base, **extra, "WB_DATA_DIR": str(root / f"data{index}"),
                                       "SSH_AUTH_SOCK": ""}, root / f"pycache{index}")  # fmt: skip
            first = subprocess.run([WB, "run", "--", "true"], cwd=project, env=env, capture_output=True, text=True,
                                   timeout=300, stdin=subprocess.DEVNULL)  # fmt: skip
            if first.returncode != 0:
                raise SystemExit(f"the first wb run ({name}) failed: {first.stderr}")
            instance_id = first.stderr.split("launched ", 1)[1].split()[0]
            setups.append((name, env, project, f"arn:aws:ec2:{lab.region}:{lab.account}:instance/{instance_id}"))

        def idle(arn: str) -> None:
            wait_for(lambda: (row := lab.store.get_instance(lab.admin.user_id, arn)) is not None
                     and row.state is InstanceState.IDLE, 60, f"{arn} idle again")  # fmt: skip

        cases = [
            (Case(f"{name}: wb run --no-sync -- true", [WB, "run", "--no-sync", "--", "true"], b""), env, project, arn)
            for name, env, project, arn in setups
        ] + [
            (Case(f"{name}: wb run -- echo hi", [WB, "run", "--", "echo", "hi"], b"hi\n"), env, project, arn)
            for name, env, project, arn in setups
        ]
        for round_index in range(args.rounds):
            order = cases[round_index % len(cases) :] + cases[: round_index % len(cases)]
            for case, env, project, arn in order:
                idle(arn)
                time_once(case, env, project)
    rows, data = [], {}
    for case, *_ in cases:
        total = summary_ms(case.samples)
        first = summary_ms(case.first_byte) if case.first_byte else None
        data[case.name] = {"total_ms": total, "first_byte_ms": first}
        rows.append([case.name, f"{total['median']:.0f}", f"{total['p90']:.0f}",
                     f"{first['median']:.0f}" if first else "-", f"{first['p90']:.0f}" if first else "-"])  # fmt: skip
    print(markdown_table(["command", "median ms", "p90 ms", "first byte median ms", "first byte p90 ms"], rows))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rounds": args.rounds, "cases": data}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
