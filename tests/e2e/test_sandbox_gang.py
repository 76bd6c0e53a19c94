"""A gang of 3 in the sandbox (real sshd hosts in namespaces, the real agent daemons, the reaper every 2 s,
lease 0.2 min): it launches whole, and ends together whichever single thing fails: one machine reclaimed,
the client gone, the owner's budget tripped (docs/supervision.md, the gang rows of the fault table).

The gang is held by tests/e2e/gang_driver.py, as `wb run --nodes N` holds one. Run with `-s` for the numbers:
the gang's launch time (acquire, then every rank's SSH login and agent), and for every member the time from
the fault to EC2 showing it ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.sandbox_support import IDLE_MINUTES, LEASE_MINUTES, Client, Lab, ScenarioError, sandbox_up, up_args
from tests.integration.sandbox.conftest import sandbox_unavailable
from tests.support.project import WB
from tests.support.requirements import unavailable

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(600)]

NODES = 3
REAPER_PERIOD_S = 2.0
WATCH_POLL_S = 0.25  # the watch's own resolution


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    why = sandbox_unavailable()
    if why:
        unavailable(f"sandbox: {why}")
    args = up_args(REAPER_PERIOD_S, LEASE_MINUTES, IDLE_MINUTES)
    with sandbox_up(tmp_path_factory.mktemp("sandbox-gang"), tmp_path_factory.mktemp("cwd-gang"), args) as box:
        found = Lab(box, tmp_path_factory.mktemp("projects-gang"), reaper_period_s=REAPER_PERIOD_S)
        try:
            yield found
        finally:
            found.close()


@dataclass
class HeldGang:
    client: Client
    proc: subprocess.Popen[str]
    ids: list[str]
    report: dict[str, object]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(30)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def hold_gang(lab: Lab, name: str, nodes: int = NODES) -> HeldGang:
    client = lab.client(name)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = client.env({"PYTHONPATH": root})
    argv = [sys.executable, "-m", "tests.e2e.gang_driver", str(nodes)]
    proc = subprocess.Popen(argv, cwd=client.project, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        raise ScenarioError(f"the gang driver exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
    report = json.loads(line)
    print(f"\n{name}: gang of {nodes} acquired in {report['acquired_s']:.2f} s, every rank's agent reached in "
          f"{report['reached_s']:.2f} s")  # fmt: skip
    return HeldGang(client, proc, list(report["ids"]), report)


def bound_after(lab: Lab) -> float:
    """One reaper period, the longest reaper run so far, and the watch's resolution."""
    return REAPER_PERIOD_S + max(lab.reaper_runs_s(), default=0.0) + WATCH_POLL_S


def ends(lab: Lab, ids: list[str], timeout: float) -> dict[str, float]:
    return {instance_id: lab.watch.wait_ended(instance_id, timeout) for instance_id in ids}


def test_one_member_reclaimed_ends_the_gang_within_one_reaper_period(lab: Lab) -> None:
    held = hold_gang(lab, "gang-reclaimed")
    try:
        reclaimed, rest = held.ids[1], [held.ids[0], held.ids[2]]
        at = time.time()
        lab.ec2.terminate_instances(InstanceIds=[reclaimed])  # EC2 takes it back (a spot reclaim, a host failure)
        ended = ends(lab, rest, 60)
        bound = bound_after(lab)
        for instance_id, when in ended.items():
            print(f"  {instance_id} ended {when - at:.2f} s after rank 1 was reclaimed (bound {bound:.2f} s)")
            assert when - at <= bound
            row = held.client.row(instance_id)
            assert row is not None and row.reap_reason == "gang-member-ended"
    finally:
        held.stop()


def test_the_client_gone_ends_every_member_at_its_lease(lab: Lab) -> None:
    held = hold_gang(lab, "gang-client-gone")
    killed_at = time.time()
    held.proc.kill()  # kill -9: no lease is renewed after this
    held.proc.wait(10)
    ended = ends(lab, held.ids, LEASE_MINUTES * 60 + 60)
    bound = bound_after(lab)
    for instance_id, when in ended.items():
        row = held.client.row(instance_id)
        assert row is not None
        by, _ = lab.stopped_by(held.client, instance_id)
        print(f"  {instance_id} ended {when - row.lease_until:+.2f} s past its lease, {when - killed_at:.2f} s after "
              f"the client died, by the {by}")  # fmt: skip
        assert when - row.lease_until <= bound
        # whichever layer comes first: the reaper, or the member's own agent seeing its lease expired
        assert by.startswith(("reaper (lease-expired", "reaper (gang-member-ended", "agent ("))
    assert max(ended.values()) - min(ended.values()) <= bound  # together, not one lease after another


def test_a_tripped_budget_ends_every_member_in_one_reaper_run(lab: Lab) -> None:
    held = hold_gang(lab, "gang-budget")
    try:
        admin = Client(lab, lab.admin, held.client.project, held.client.data_dir.parent / "admin-data")
        set_at = time.time()
        budget = admin.wb("budget", "set", held.client.owner.user_id, "0.0001").check()
        command_s = budget.ended_at - set_at  # the budget row is written somewhere within the command
        ended = ends(lab, held.ids, 60)
        bound = bound_after(lab) + command_s
        for instance_id, when in ended.items():
            row = held.client.row(instance_id)
            assert row is not None
            print(f"  {instance_id} ended {when - set_at:.2f} s after `wb budget set` began ({row.reap_reason})")
            assert when - set_at <= bound
            assert row.reap_reason in ("owner-budget", "gang-member-ended")
        assert max(ended.values()) - min(ended.values()) <= REAPER_PERIOD_S + WATCH_POLL_S
    finally:
        held.stop()


def test_wb_run_nodes_runs_every_rank_with_the_contract_and_ends_with_the_failing_ranks_code(lab: Lab) -> None:
    """`wb run --nodes 3` on aws, end to end: one gang launched, the environment contract on every rank with
    rank 0's private address as MASTER_ADDR, rank 0's stdout on stdout, the others' lines prefixed on stderr
    (--all-nodes), and the exit code of the rank that failed."""
    client = lab.client("gang-run")
    script = (
        'echo "rank $NODE_RANK of $NNODES gpus $GPUS_PER_NODE master $MASTER_ADDR:$MASTER_PORT"; '
        'if [ "$NODE_RANK" = 2 ]; then sleep 1; exit 3; fi; sleep 30'
    )
    started = time.monotonic()
    run = client.wb("run", "--nodes", str(NODES), "--all-nodes", "--", "sh", "-c", script, timeout=300)
    took = time.monotonic() - started
    print(f"\nwb run --nodes {NODES}: {took:.1f} s from the command to the gang's end (rank 2 exits 3)")
    assert run.returncode == 3, run.stderr[-3000:]
    [line] = run.stdout.splitlines()
    rank, _, nodes, _, _gpus, _, master = line.split()[1:]
    assert (rank, nodes) == ("0", str(NODES))
    address, port = master.rsplit(":", 1)
    assert address.count(".") == 3 and 1024 <= int(port) <= 65535
    for other in (1, 2):
        assert f"[rank {other}] rank {other} of {NODES} gpus" in run.stderr
        assert f"master {master}" in run.stderr
    assert "rank 2" in run.stderr and "3" in run.stderr
    assert took < 30 + 60, "the other ranks were stopped when rank 2 failed, not left to finish"


ALLREDUCE = """\
import os
import sys

import torch
import torch.distributed as dist

dist.init_process_group("gloo")  # torchrun's env://: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
if os.environ.get("FAIL_ON_NODE") == os.environ["NODE_RANK"]:
    sys.exit(3)  # after the rendezvous: the others' all-reduce loses this peer at once
total = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(total)
if dist.get_rank() == 0:
    sys.stdout.buffer.write(f"world {dist.get_world_size()} sum {int(total.item())}\\n".encode() + TAIL)
    sys.stdout.flush()
dist.destroy_process_group()
"""
TAIL = b"caf\xc3\xa9\t\r\n\x00no newline at the end"  # bytes a line-based or text-mode relay would change
DOCS = Path(__file__).resolve().parents[2] / "docs" / "multinode.md"


def docs_recipe(introduced_by: str) -> str:
    """The first ```sh block of docs/multinode.md after the line that starts with `introduced_by`."""
    text = DOCS.read_text()
    after = text[text.index("\n" + introduced_by) :]
    block = re.search(r"^```sh\n(.*?)^```$", after, re.S | re.M)
    assert block is not None, f"no sh block after {introduced_by!r} in {DOCS}"
    return block.group(1)


def torch_with_gloo() -> None:
    found = subprocess.run(["/usr/bin/python3", "-c", "import torch.distributed as d; print(d.is_gloo_available())"],
                           capture_output=True, text=True)  # fmt: skip
    if found.stdout.strip() != "True":
        unavailable("PyTorch with gloo for the hosts' python3 (Debian: apt-get install python3-torch)")


def test_the_docs_torchrun_recipe_runs_a_gloo_all_reduce_across_three_machines(lab: Lab) -> None:
    """docs/multinode.md's torchrun block, as written there with allreduce.py for train.py, under
    `wb run --nodes 3 -- sh run.sh`: no interface named, no address but the contract's; gloo finds each
    host's address from its hostname, as on EC2. Rank 0's output reaches stdout byte-exact, and the exit code
    is 0; then with the script exiting 3 on rank 1 after the rendezvous (torchrun reports a failed worker as
    1, and every rank's worker fails with it), `wb run` exits 1."""
    torch_with_gloo()
    recipe = docs_recipe("torchrun (PyTorch DDP)")
    assert recipe.count("train.py") == 1 and recipe.startswith("torchrun "), recipe
    client = lab.client("gang-torchrun")
    (client.project / "allreduce.py").write_text(ALLREDUCE.replace("TAIL", repr(TAIL)))
    (client.project / "run.sh").write_text(recipe.replace("train.py", "allreduce.py"))
    argv = [WB, "run", "--nodes", str(NODES), "--", "sh", "run.sh"]
    started = time.monotonic()
    run = subprocess.run(argv, cwd=client.project, env=client.env(), capture_output=True, stdin=subprocess.DEVNULL,
                         timeout=400)  # fmt: skip
    print(f"\ntorchrun recipe, gloo all-reduce across {NODES} sandbox machines: {time.monotonic() - started:.1f} s, "
          f"exit {run.returncode}")  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    assert run.stdout == f"world {NODES} sum {sum(range(1, NODES + 1))}\n".encode() + TAIL, run.stdout

    # --fresh: the lab's warm window is 6 s, and a claim racing its end is not what this test is about
    failing = [*argv[:2], "--fresh", "-e", "FAIL_ON_NODE=1", "--all-nodes", *argv[2:]]
    started = time.monotonic()
    run = subprocess.run(failing, cwd=client.project, env=client.env(), capture_output=True,
                         stdin=subprocess.DEVNULL, timeout=400)  # fmt: skip
    print(f"the same with rank 1's script exiting 3: {time.monotonic() - started:.1f} s, exit {run.returncode}")
    assert run.returncode == 1, run.stderr[-4000:]
    # rank 1's torchrun reports its worker's own code (its lines come prefixed, --all-nodes)
    assert re.search(rb"\[rank 1\] +exitcode +: 3 ", run.stderr), run.stderr[-4000:]
    assert run.stdout == b""


MPI_ALLREDUCE = """\
import sys

from mpi4py import MPI

comm = MPI.COMM_WORLD
total = comm.allreduce(comm.Get_rank() + 1)
names = comm.gather(MPI.Get_processor_name())
if comm.Get_rank() == 0:
    sys.stdout.buffer.write(f"world {comm.Get_size()} sum {total} hosts {len(set(names))}\\n".encode() + TAIL)
    sys.stdout.flush()
"""


def gang_lines(lab: Lab) -> dict[str, list[str]]:
    """Every sandbox host's authorized_keys lines that a gang job added (tagged `wb-gang-<job id>`)."""
    found = {}
    for home in (lab.box.root / "hosts").glob("*/home"):
        keys = home / ".ssh" / "authorized_keys"
        lines = keys.read_text().splitlines() if keys.exists() else []
        found[home.parent.name] = [line for line in lines if " wb-gang-" in line]
    return found


def test_the_docs_mpirun_recipe_runs_an_mpi4py_all_reduce_over_the_gangs_own_ssh(lab: Lab) -> None:
    """docs/multinode.md's mpirun block, as written there with an mpi4py all-reduce for train_mpi.py, under
    `wb run --nodes 3 --gang-ssh`: Debian's Open MPI starts ranks 1 and 2 over ssh from rank 0 with the
    gang's per-run key; rank 0's output reaches stdout byte-exact, exit 0; afterwards no host's
    authorized_keys holds the gang's line, and rank 0's copy of the key is gone."""
    for tool in ("/usr/bin/mpirun", "/usr/bin/orted"):
        if not os.access(tool, os.X_OK):
            unavailable(f"Open MPI ({tool}; Debian: apt-get install openmpi-bin)")
    found = subprocess.run(["/usr/bin/python3", "-c", "import mpi4py.MPI"], capture_output=True, text=True)
    if found.returncode != 0:
        unavailable("mpi4py for the hosts' python3 (Debian: apt-get install python3-mpi4py)")
    recipe = docs_recipe("mpirun (Open MPI)")
    assert recipe.count("train_mpi.py") == 1 and "$WB_HOSTFILE" in recipe, recipe
    client = lab.client("gang-mpi")
    (client.project / "allreduce_mpi.py").write_text(MPI_ALLREDUCE.replace("TAIL", repr(TAIL)))
    (client.project / "run_mpi.sh").write_text(recipe.replace("train_mpi.py", "allreduce_mpi.py"))
    # without --gang-ssh rank 0 cannot log in to the others, and mpirun fails (the gang ends with its code)
    plain = [WB, "run", "--nodes", str(NODES), "--", "sh", "run_mpi.sh"]
    run = subprocess.run(plain, cwd=client.project, env=client.env(), capture_output=True,
                         stdin=subprocess.DEVNULL, timeout=400)  # fmt: skip
    assert run.returncode != 0 and run.stdout == b"", run.stderr[-3000:]  # mpirun's own code (255)
    assert b"Host key verification failed" in run.stderr, run.stderr[-3000:]
    argv = [WB, "run", "--nodes", str(NODES), "--fresh", "--gang-ssh", "--", "sh", "run_mpi.sh"]  # --fresh: as above
    started = time.monotonic()
    run = subprocess.run(argv, cwd=client.project, env=client.env(), capture_output=True, stdin=subprocess.DEVNULL,
                         timeout=400)  # fmt: skip
    print(f"\nmpirun recipe, mpi4py all-reduce across {NODES} sandbox machines: {time.monotonic() - started:.1f} s, "
          f"exit {run.returncode}")  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    assert run.stdout == f"world {NODES} sum {sum(range(1, NODES + 1))} hosts {NODES}\n".encode() + TAIL, run.stdout
    left = {host: lines for host, lines in gang_lines(lab).items() if lines}
    assert left == {}, left
    jobs = list((lab.box.root / "hosts").glob("*/home/.weatherballoon/jobs/*/hostfile"))
    assert jobs and not [path.parent for path in jobs if (path.parent / "gang-ssh").exists()]


LISTEN = """\
import socket
import sys

server = socket.create_server((sys.argv[1], int(sys.argv[2])))
print("listening", flush=True)
while True:
    peer, (address, _) = server.accept()
    with peer:
        peer.recv(64)
        peer.sendall(f"hello {address}\\n".encode())
"""
CONNECT = """\
import socket
import sys

with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])) as peer:
    peer.sendall(b"hi\\n")
    print(peer.makefile().readline().strip())
"""
CONNECT_TIMEOUT_S = 3.0


def connect(namespace: str | None, address: str, port: int) -> subprocess.CompletedProcess[str]:
    """A TCP connection from a host (its namespace), or from this machine (None): one line each way."""
    where = ["ip", "netns", "exec", namespace] if namespace else []
    argv = [*where, sys.executable, "-c", CONNECT, address, str(port), str(CONNECT_TIMEOUT_S)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def private_ips(lab: Lab, ids: list[str]) -> list[str]:
    found = {}
    for reservation in lab.ec2.describe_instances(InstanceIds=ids)["Reservations"]:
        for instance in reservation["Instances"]:
            found[instance["InstanceId"]] = instance["PrivateIpAddress"]
    return [found[instance_id] for instance_id in ids]


def test_the_ranks_reach_one_another_on_any_port_and_another_members_machine_does_not(lab: Lab) -> None:
    """Issue 13 §4 as the sandbox enforces it (sandbox/firewall.py): rank 0 listens on a high port; ranks 1
    and 2 reach it (the gang group's self-reference, any port) and rank 0 reaches rank 2's sshd; a `wb run`
    machine of another member, in the stack's group only, is dropped on both ports, as EC2 drops it."""
    held = hold_gang(lab, "gang-network")
    other = hold_gang(lab, "gang-outsider", nodes=1)  # its own IAM user: another member's `wb run` machine
    listener: subprocess.Popen[str] | None = None
    try:
        ranks = private_ips(lab, held.ids)
        [outsider] = private_ips(lab, other.ids)
        port = 40000 + secrets.randbelow(20000)
        rank0 = lab.namespace(held.ids[0])
        listener = subprocess.Popen(["ip", "netns", "exec", rank0, sys.executable, "-c", LISTEN, ranks[0], str(port)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert listener.stdout is not None and listener.stdout.readline().strip() == "listening"

        for rank in (1, 2):
            reached = connect(lab.namespace(held.ids[rank]), ranks[0], port)
            assert reached.returncode == 0, reached.stderr
            assert reached.stdout.strip() == f"hello {ranks[rank]}"  # the reply came back: stateful
        banner = subprocess.run(["ip", "netns", "exec", rank0, sys.executable, "-c",
                                 "import socket,sys; print(socket.create_connection((sys.argv[1], 22), 3).recv(64))",
                                 ranks[2]], capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        assert "SSH-2.0" in banner.stdout, banner.stderr

        refused = connect(lab.namespace(other.ids[0]), ranks[0], port)
        assert refused.returncode != 0 and "timed out" in refused.stderr, (refused.stdout, refused.stderr)
        sshd = connect(lab.namespace(other.ids[0]), ranks[0], 22)
        assert sshd.returncode != 0 and "timed out" in sshd.stderr, (sshd.stdout, sshd.stderr)
        print(f"  ranks {ranks} reach {ranks[0]}:{port}; {outsider} (another member's machine) is dropped")

        # this machine is not an instance: its traffic is not forwarded, so the rules between hosts never see it
        here = connect(None, ranks[0], port)
        assert here.returncode == 0 and here.stdout.startswith("hello "), here.stderr
    finally:
        if listener is not None:
            listener.kill()
            listener.wait(10)
        other.stop()
        held.stop()
