"""Warm `wb run` through the aws provider (in `wb sandbox`) against plain `ssh` to the same host.

    sudo python -m bench.aws_latency [--rounds 20] [--json PATH]

Brings up a sandbox (reaper every 5 s, lease 0.5 min, idle 5 min: the provider's reuse needs more than 30 s
of warm window left), launches one instance with a first `wb run`, then, per round and in a rotating order:

- `ssh -F /dev/null -o ControlMaster=no ... -i KEY USER@PRIVATE_IP true`   the reference: a fresh OpenSSH
  connection to the instance's host (its sshd in the host's network namespace), with the instance's own key
  and a known_hosts naming the key the instance registered;
- the same with `-o KexAlgorithms=curve25519-sha256` (the kex paramiko negotiates);
- `wb run -- true` (a no-op sync of a tiny git project) and `wb run --no-sync -- true`: the whole aws path
  on a warm instance: STS, the reuse lookup (DescribeInstances + BatchGetItem), the conditional claim,
  the lease thread, the host-key check against the row, the job row, the job, the exit code;
- `ssh ... echo hi` / `wb run [--no-sync] -- echo hi`: time to the first stdout byte.

Between two `wb run`s (untimed) the bench waits until the agent has set the row back to idle: until then
the instance is not claimable and a `wb run` would launch another one (see the report). Every `wb run`
must reuse the one instance; the bench stops if one launched. The sandbox is taken down at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from weatherballoon.lambdas.records import InstanceState

from bench.bytecode import with_bytecode_cache
from bench.run_latency import KEX_AS_PARAMIKO, TARGET_RATIO, Case, report, time_once
from bench.stats import machine
from tests.e2e.sandbox_support import Lab, sandbox_up, up_args, wait_for
from tests.integration.sandbox.conftest import sandbox_unavailable
from tests.support.project import WB

LEASE_MINUTES = 0.5
IDLE_MINUTES = 5.0
REAPER_PERIOD_S = 5.0


def tiny_project(root: Path, files: int = 8) -> Path:
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for index in range(files):
        (root / f"module{index}.py").write_text(f"VALUE = {index}\n" * 20)
    return root


# A child that runs the real entry point with timers around boto3's import, each client's creation and each
# API call; the CLI's own WB_TRACE marks come on the same clock (ms since the interpreter started).
PROFILE_CHILD = r"""
import importlib.abc, importlib.machinery, sys, time
from weatherballoon.cli import trace

def say(start, label):
    now = time.perf_counter()
    sys.stderr.write(f"wb-prof {(start - trace._START) * 1000:.1f} {(now - start) * 1000:.1f} {label}\n")

class TimedImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "boto3":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run = spec.loader.exec_module
        def exec_module(module):
            start = time.perf_counter()
            run(module)
            say(start, "import boto3 (and botocore)")
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, TimedImport())

def patch():
    import boto3.session, botocore.client
    make_client = boto3.session.Session.client
    def client(self, service, *args, **kwargs):
        start = time.perf_counter()
        made = make_client(self, service, *args, **kwargs)
        say(start, f"client {service}")
        return made
    boto3.session.Session.client = client
    call = botocore.client.BaseClient._make_api_call
    def api_call(self, operation, params):
        start = time.perf_counter()
        try:
            return call(self, operation, params)
        finally:
            say(start, f"{self.meta.service_model.service_name} {operation}")
    botocore.client.BaseClient._make_api_call = api_call

class Patcher(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "weatherballoon.cli.providers.aws.plane":
            sys.meta_path.remove(self)
            import boto3  # noqa: F401  (timed above)
            patch()
        return None

sys.meta_path.insert(0, Patcher())
sys.argv = ["wb", "run", "--", "true"]
from weatherballoon.cli.entry import main
main()
"""


def profile_once(env: dict[str, str], project: Path) -> list[tuple[str, float, float]]:
    """(label, starts at ms, takes ms) for one `wb run -- true`; the exit is measured from outside."""
    child_env = dict(env, WB_TRACE="1")
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROFILE_CHILD], cwd=project, env=child_env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip
    total_ms = (time.perf_counter() - began) * 1000
    if done.returncode != 0:
        raise SystemExit(f"profiled wb run failed ({done.returncode}): {done.stderr[-2000:]}")
    events: list[tuple[str, float, float]] = []
    previous = 0.0
    for line in done.stderr.splitlines():
        if line.startswith("wb-prof "):
            _, at, took, label = line.split(" ", 3)
            events.append((label, float(at), float(took)))
        elif line.startswith("wb-trace "):
            at_ms = float(line.split()[1])
            label = line.split("ms", 1)[1].strip()
            events.append((f"mark: {label}", previous, at_ms - previous))
            previous = at_ms
    events.append(("process exit (seen by the parent)", previous, total_ms - previous))
    return events


def timeline_table(runs: list[list[tuple[str, float, float]]]) -> tuple[str, dict[str, object]]:
    """Median start and duration per label (the n-th occurrence of a label is its own row)."""
    import statistics

    from bench.stats import markdown_table

    rows: dict[str, list[tuple[float, float]]] = {}
    order: list[str] = []
    for events in runs:
        seen: dict[str, int] = {}
        for label, at, took in events:
            seen[label] = seen.get(label, 0) + 1
            key = label if seen[label] == 1 else f"{label} #{seen[label]}"
            if key not in rows:
                rows[key] = []
                order.append(key)
            rows[key].append((at, took))
    order.sort(key=lambda key: statistics.median(at for at, _ in rows[key]))
    table = [[f"{statistics.median(a for a, _ in rows[k]):.1f}", f"{statistics.median(t for _, t in rows[k]):.1f}",
              f"{len(rows[k])}/{len(runs)}", k] for k in order]  # fmt: skip
    data: dict[str, object] = {}
    for key in order:
        data[key] = {"at_ms": statistics.median(a for a, _ in rows[key]),
                     "took_ms": statistics.median(t for _, t in rows[key])}  # fmt: skip
    return markdown_table(["starts at ms", "takes ms (median)", "runs", "phase"], table), data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--profile", type=int, default=10, help="then this many timed runs with a timeline (0: none)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    why = sandbox_unavailable()
    if why:
        print(f"sandbox: {why}", file=sys.stderr)
        return 2
    results: dict[str, object] = {"machine": machine(), "rounds": args.rounds}
    with tempfile.TemporaryDirectory(prefix="wb-aws-latency-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        os.chmod(root, 0o755)
        box = stack.enter_context(
            sandbox_up(root / "sandbox", root, up_args(REAPER_PERIOD_S, LEASE_MINUTES, IDLE_MINUTES))
        )
        lab = Lab(box, root / "unused", reaper_period_s=REAPER_PERIOD_S, lease_minutes=LEASE_MINUTES,
                  idle_minutes=IDLE_MINUTES)  # fmt: skip
        stack.callback(lab.close)
        project = tiny_project(root / "proj")
        data_dir = root / "wb-data"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WB_", "AWS_"))}
        env.update(box.exported)
        # A direct connection with the instance's own launch key, as `ssh` gets (bench/tunnel_latency.py
        # compares this path with the Instance Connect Endpoint's).
        env.update({"WB_DATA_DIR": str(data_dir), "SSH_AUTH_SOCK": "", "WB_CONNECT": "private-ip"})
        env = with_bytecode_cache(env, root / "pycache")
        first = subprocess.run([WB, "run", "--", "true"], cwd=project, env=env, capture_output=True, text=True,
                               timeout=300, stdin=subprocess.DEVNULL)  # fmt: skip
        if first.returncode != 0:
            raise SystemExit(f"the first wb run failed: {first.stderr}")
        instance_id = first.stderr.split("launched ", 1)[1].split()[0]
        arn = f"arn:aws:ec2:{lab.region}:{lab.account}:instance/{instance_id}"

        def idle() -> None:
            wait_for(lambda: (row := lab.store.get_instance(lab.admin.user_id, arn)) is not None
                     and row.state is InstanceState.IDLE, 60, f"{instance_id} idle again")  # fmt: skip

        def one_instance() -> None:
            alive = [{"Name": "instance-state-name", "Values": ["pending", "running"]}]
            found = lab.ec2.describe_instances(Filters=alive)
            ids = [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]]
            if ids != [instance_id]:
                raise SystemExit(f"a wb run did not reuse {instance_id}: running now {ids}")

        host = box.live_host(instance_id)
        assert host is not None
        kind, key = (box.root / "hosts" / instance_id / "ssh" / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        known_hosts = root / "known_hosts"
        known_hosts.write_text(f"{host['private_ip']} {kind} {key}\n")

        def ssh(*command: str, options: tuple[str, ...] = ()) -> list[str]:
            return [
                "ssh", *options, "-F", "/dev/null", "-o", "ControlMaster=no", "-o", "ControlPath=none",
                "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
                "-o", "IdentitiesOnly=yes", "-i", str(data_dir / "keys" / instance_id),
                f"{box.exported['WB_USERNAME']}@{host['private_ip']}", *command,
            ]  # fmt: skip

        cases = [
            Case("ssh true", ssh("true"), b""),
            Case("ssh true (curve25519 kex, as paramiko)", ssh("true", options=KEX_AS_PARAMIKO), b""),
            Case("wb run --no-sync -- true", [WB, "run", "--no-sync", "--", "true"], b""),
            Case("wb run -- true (no-op sync)", [WB, "run", "--", "true"], b""),
            Case("ssh echo hi", ssh("echo", "hi"), b"hi\n"),
            Case("wb run --no-sync -- echo hi", [WB, "run", "--no-sync", "--", "echo", "hi"], b"hi\n"),
            Case("wb run -- echo hi", [WB, "run", "--", "echo", "hi"], b"hi\n"),
            # Without the early connection the remembered machine is not taken: the full lookup (STS, the stack,
            # DescribeInstances, the table) finds and claims it, as after a note is lost or the config changed.
            Case("wb run -- true (full lookup)", ["env", "WB_PREFETCH=0", WB, "run", "--", "true"], b""),
        ]

        def timed(case: Case) -> None:
            if WB in case.argv:
                idle()
            time_once(case, env, project)
            if WB in case.argv:
                one_instance()

        for case in cases:  # warm: agent installed, initial sync done, page cache hot
            timed(case)
            case.samples.clear()
            case.first_byte.clear()
            case.cpu.clear()
        began = time.time()
        for index in range(args.rounds):
            shift = index % len(cases)
            for case in cases[shift:] + cases[:shift]:
                timed(case)
            print(f"  round {index + 1}/{args.rounds} ({time.time() - began:.0f} s)", file=sys.stderr, flush=True)
        title = f"aws provider in wb sandbox, warm instance, {args.rounds} rounds"
        text, results["warm"] = report(title, cases)
        if args.profile:
            timelines = []
            for _ in range(args.profile):
                idle()
                timelines.append(profile_once(env, project))
                one_instance()
            table, results["timeline"] = timeline_table(timelines)
            text += f"\n#### wb run -- true on the warm instance: timeline, median of {args.profile} runs\n\n{table}\n"
    results["machine_after"] = machine()["load average (1, 5, 15 min)"]
    print(text)
    print("machine: " + json.dumps(results["machine"]))
    print(f"load average after: {results['machine_after']}")
    warm = results["warm"]
    assert isinstance(warm, dict)
    for name in ("wb run --no-sync -- true", "wb run -- true (no-op sync)"):
        ratio = warm[name]["ratio_to_ssh"]
        verdict = "meets" if ratio <= TARGET_RATIO else "misses"
        print(f"warm {name} / ssh true = {ratio:.2f}x ({verdict} the {TARGET_RATIO}x target)")
    first_byte = warm["wb run -- echo hi"]["first_byte_ms"]
    print(f"time to first output, warm wb run -- echo hi: median {first_byte['median']:.0f} ms")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
