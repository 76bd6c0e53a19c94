"""Warm `wb run` and time to first output through the EC2 Instance Connect Endpoint's tunnel (a key pushed
per connection, the WebSocket over TLS) against a direct connection, in `wb sandbox`, with the connection
keeper warm on both paths, and against a fresh direct OpenSSH `ssh` (issue 12's target: first output through
the tunnel path, keeper warm, at most 1.0x a fresh direct `ssh host echo hi`).

    sudo python -m bench.tunnel_latency [--rounds 15] [--json PATH]

Brings up a sandbox (reaper every 5 s, lease 0.5 min, idle 5 min), launches one machine per path with a first
`wb run` each (`connect: private-ip` with the launch key, and `eice`, the sandbox's default), waits for each
path's keeper (its own runtime folder, the default keepConnectionMinutes), then per round, in a rotating
order, `wb run --no-sync -- true` and `wb run -- echo hi` on each path, waiting (untimed) for the machine's row
to be idle between two runs, and `ssh ... echo hi`: a fresh OpenSSH connection (no ControlMaster) to the
direct path's machine with its launch key and the host key it registered.

A warm run through the tunnel with its keeper warm makes no AWS call: the machine is remembered with its
endpoint (warm_cache.py), the keeper holds the tunnel and the SSH transport, and the machine's daemon answers
the claim. Without a keeper it would pay SendSSHPublicKey, a TLS handshake, the WebSocket upgrade with its
SigV4 check and SSH's own handshake; on AWS the endpoint adds its round trips as well (the sandbox's are
loopback).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
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
from tests.integration.sandbox.support import Sandbox
from tests.support.project import WB, keeper_pids

PATHS = {"direct (private-ip)": {"WB_CONNECT": "private-ip"}, "tunnel (eice)": {}}
TUNNEL_ECHO = "tunnel (eice): wb run -- echo hi"
SSH_ECHO = "fresh direct ssh echo hi"
TARGET_RATIO = 1.0  # issue 12: first output through the tunnel, keeper warm / a fresh direct ssh


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
        instances: list[str] = []
        for index, (name, extra) in enumerate(PATHS.items()):
            project = tiny_project(root / f"proj{index}")
            runtime = root / f"rt{index}"  # the keepers' folder of this path (ended below)
            stack.callback(_stop_keepers, runtime)
            env = with_bytecode_cache({**base, **extra, "WB_DATA_DIR": str(root / f"data{index}"),
                                       "SSH_AUTH_SOCK": "", "WB_RUNTIME_DIR": str(runtime)},
                                      root / f"pycache{index}")  # fmt: skip
            first = subprocess.run([WB, "run", "--", "true"], cwd=project, env=env, capture_output=True, text=True,
                                   timeout=300, stdin=subprocess.DEVNULL)  # fmt: skip
            if first.returncode != 0:
                raise SystemExit(f"the first wb run ({name}) failed: {first.stderr}")
            instance_id = first.stderr.split("launched ", 1)[1].split()[0]
            wait_for(lambda: keeper_pids(runtime), 60, f"the keeper of {name}")  # noqa: B023 (called right here)
            setups.append((name, env, project, f"arn:aws:ec2:{lab.region}:{lab.account}:instance/{instance_id}"))
            instances.append(instance_id)

        ssh = _direct_ssh(box, root, instances[0], root / "data0")

        def idle(arn: str | None) -> None:
            if arn is None:  # not a wb run
                return
            wait_for(lambda: (row := lab.store.get_instance(lab.admin.user_id, arn)) is not None
                     and row.state is InstanceState.IDLE, 60, f"{arn} idle again")  # fmt: skip

        cases: list[tuple[Case, dict[str, str], Path, str | None]] = [
            (Case(f"{name}: wb run --no-sync -- true", [WB, "run", "--no-sync", "--", "true"], b""), env, project, arn)
            for name, env, project, arn in setups
        ] + [
            (Case(f"{name}: wb run -- echo hi", [WB, "run", "--", "echo", "hi"], b"hi\n"), env, project, arn)
            for name, env, project, arn in setups
        ]
        cases.append((Case(SSH_ECHO, [*ssh, "echo", "hi"], b"hi\n"), setups[0][1], setups[0][2], None))
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
    tunnel_first, ssh_first = data[TUNNEL_ECHO]["first_byte_ms"], data[SSH_ECHO]["first_byte_ms"]
    assert tunnel_first is not None and ssh_first is not None
    ratio = tunnel_first["median"] / ssh_first["median"]
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(f"\nfirst output through the tunnel, keeper warm / fresh direct ssh echo hi = {ratio:.2f}x "
          f"({verdict} the {TARGET_RATIO}x target)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rounds": args.rounds, "cases": data,
                                         "tunnel_first_output_to_fresh_ssh": ratio}, indent=2))  # fmt: skip
    return 0


def _direct_ssh(box: Sandbox, root: Path, instance_id: str, data_dir: Path) -> list[str]:
    """A fresh OpenSSH connection (no ControlMaster) to the direct path's machine, with its launch key and a
    known_hosts naming the host key it registered (as bench/aws_latency.py)."""
    host = box.live_host(instance_id)
    assert host is not None
    kind, key = (box.root / "hosts" / instance_id / "ssh" / "ssh_host_ed25519_key.pub").read_text().split()[:2]
    known_hosts = root / "known_hosts"
    known_hosts.write_text(f"{host['private_ip']} {kind} {key}\n")
    return [
        "ssh", "-F", "/dev/null", "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "BatchMode=yes",
        "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes",
        "-i", str(data_dir / "keys" / instance_id), f"{box.exported['WB_USERNAME']}@{host['private_ip']}",
    ]  # fmt: skip


def _stop_keepers(runtime: Path) -> None:
    for pid in keeper_pids(runtime):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
