"""`wb run --nodes 3` on three real sshd hosts, each in its own network namespace at its own address, that
reach one another (tests/support/gang.py). The real `wb` binary, real agents, real gang links.

Measured outcomes are printed (run with `-s`): launch to first output, and how long a gang takes to end
after one rank's machine vanishes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.gang_scripts import ALLREDUCE, ENV_DUMP, FAIL_ONE
from tests.support.background import Attached
from tests.support.gang import GangHost, gang_hosts, gang_project
from tests.support.project import Project

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(300)]

NODES = 3
# docs/multinode.md, "Exit code and gang semantics": a rank's failure ends the others within DEAD_AFTER_S +
# BEAT_S + GRACE_S and a poll (5 + 1 + 5 + 0.25 s); the test allows slack for a loaded 2-core CI machine.
GANG_STOP_BOUND_S = 12.0
SLACK_S = 8.0
CONTRACT = (
    "MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "NNODES", "GPUS_PER_NODE", "WB_NODE_IPS", "WB_HOSTFILE",
    "WB_GPUS_PER_NODE_FOUND", "WB_GANG_TOKEN", "WB_JOB_ID",
    "SKYPILOT_NODE_RANK", "SKYPILOT_NODE_IPS", "SKYPILOT_NUM_NODES", "SKYPILOT_NUM_GPUS_PER_NODE",
    "DSTACK_NODE_RANK", "DSTACK_NODES_NUM", "DSTACK_MASTER_NODE_IP", "DSTACK_NODES_IPS", "DSTACK_GPUS_PER_NODE",
    "DSTACK_GPUS_NUM",
)  # fmt: skip


@pytest.fixture
def hosts(tmp_path: Path, ssh_identity: Path) -> Iterator[list[GangHost]]:
    with gang_hosts(tmp_path / "hosts", ssh_identity, NODES) as made:
        yield made


@pytest.fixture
def gang(tmp_path: Path, hosts: list[GangHost]) -> Project:
    project = gang_project(tmp_path, hosts)
    (project.root / "env_dump.py").write_text(ENV_DUMP)
    (project.root / "allreduce.py").write_text(ALLREDUCE)
    (project.root / "fail_one.py").write_text(FAIL_ONE)
    return project


def record(outcome: str) -> None:
    print(f"\n[gang outcome] {outcome}")


def test_env_contract_streams_and_outputs_of_every_rank(gang: Project, hosts: list[GangHost]) -> None:
    started = time.monotonic()
    run = Attached(gang.popen("run", "--nodes", "3", "--all-nodes", "--", "python3", "env_dump.py", *CONTRACT), "run")
    run.wait_stdout(r"rank 0 ", 90)
    first_output_s = time.monotonic() - started
    code = run.wait(timeout=90)
    assert code == 0, run.stderr
    # Rank 0's stdout, byte-exact (a NUL and a 0xff in it), and nothing else on stdout.
    assert bytes(run.out) == b"rank 0 \x00\xff bytes\n"
    assert "stderr of rank 0\n" in run.stderr
    for rank in (1, 2):  # --all-nodes: the other ranks' lines on stderr, prefixed
        assert f"[rank {rank}] stderr of rank {rank}\n" in run.stderr
        assert f"[rank {rank}] rank {rank} " in run.stderr
    addresses = [host.address for host in hosts]
    for rank in range(NODES):
        # Every rank wrote out/env.json: rank 0's came back into the project, rank K's under rank-K/.
        folder = gang.root if rank == 0 else gang.root / f"rank-{rank}"
        env = json.loads((folder / "out" / "env.json").read_text())
        assert env["NODE_RANK"] == env["SKYPILOT_NODE_RANK"] == env["DSTACK_NODE_RANK"] == str(rank)
        assert env["NNODES"] == env["SKYPILOT_NUM_NODES"] == env["DSTACK_NODES_NUM"] == "3"
        assert env["MASTER_ADDR"] == env["DSTACK_MASTER_NODE_IP"] == addresses[0]
        assert env["MASTER_PORT"].isdigit() and 1024 <= int(env["MASTER_PORT"]) < 65536
        assert env["WB_NODE_IPS"] == env["SKYPILOT_NODE_IPS"] == env["DSTACK_NODES_IPS"] == "\n".join(addresses)
        # No GPU here: one process per node, so torchrun's --nproc-per-node works as written.
        assert env["GPUS_PER_NODE"] == env["SKYPILOT_NUM_GPUS_PER_NODE"] == env["DSTACK_GPUS_PER_NODE"] == "1"
        assert env["WB_GPUS_PER_NODE_FOUND"] == "0"
        assert env["DSTACK_GPUS_NUM"] == "3"
        assert env["hostfile"] == "".join(f"{address} slots=1\n" for address in addresses)
        assert env["WB_GANG_TOKEN"] is None  # the gang link's secret never reaches the job
        assert env["WB_JOB_ID"]
    assert not (gang.root / "rank-0").exists()
    job_id = json.loads((gang.root / "out" / "env.json").read_text())["WB_JOB_ID"]
    # Every rank's output persists: `wb logs JOB --node K` replays rank K's.
    replay = gang.wb("-q", "logs", job_id, "--node", "2")
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout == b"rank 2 \x00\xff bytes\n"
    assert replay.stderr == b"stderr of rank 2\n"
    bad = gang.wb("-q", "logs", job_id, "--node", "3")
    assert bad.returncode == 2 and b"has no node 3" in bad.stderr
    record(
        f"launch to first output of rank 0, 3 ssh hosts (cold: agent install, sync, fan-out): {first_output_s:.2f} s"
    )
    started = time.monotonic()
    again = Attached(gang.popen("run", "--nodes", "3", "--", "python3", "env_dump.py", "NODE_RANK"), "run")
    again.wait_stdout(r"rank 0 ", 60)
    record(f"launch to first output, warm (agents installed, nothing to sync): {time.monotonic() - started:.2f} s")
    assert again.wait(timeout=60) == 0, again.stderr


def test_allreduce_across_ranks_from_the_contract_alone(gang: Project) -> None:
    result = gang.wb("-q", "run", "--nodes", "3", "--", "python3", "allreduce.py", timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"rank 0: sum [6.0, 60.0]\n"
    for rank in (1, 2):
        got = json.loads((gang.root / f"rank-{rank}" / "out" / "allreduce.json").read_text())
        assert got == {"rank": rank, "sum": [6.0, 60.0]}


def test_a_rank_that_exits_3_ends_the_gang_with_3(gang: Project, hosts: list[GangHost]) -> None:
    started = time.monotonic()
    result = gang.wb("-q", "run", "--nodes", "3", "--", "python3", "fail_one.py", "2", "3", timeout=120)
    elapsed = time.monotonic() - started
    stderr = result.stderr.decode()
    assert result.returncode == 3, stderr
    assert "gang: rank 2 exited with 3; the other ranks were stopped; exit code 3" in stderr
    assert b"rank 0 got signal 15" in result.stdout  # rank 0 was stopped with SIGTERM, not left running
    job_id = next(path.name for path in (hosts[1].host.user.home / ".weatherballoon" / "jobs").iterdir())
    for rank, host in enumerate(hosts):
        status = host.status(job_id)
        assert status is not None and status["exit_code"] == 3, (rank, status)
        assert status["stop_reason"] == ("gang" if rank != 2 else None), (rank, status)
    # Rank 1's own record says why it was stopped, and `wb logs -f --node 1` returns the gang's code.
    replay = gang.wb("-q", "logs", "-f", job_id, "--node", "1")
    assert replay.returncode == 3
    assert b"rank 1 got signal 15" in replay.stdout
    assert b"gang: rank 2 exited with 3" in replay.stderr
    record(f"a rank exiting 3: wb run returned 3 after {elapsed:.1f} s (the rank exits at 1 s)")


def test_a_detached_gang_ends_together_too(gang: Project, hosts: list[GangHost]) -> None:
    started = gang.wb("-q", "run", "-d", "--nodes", "3", "--", "python3", "fail_one.py", "1", "4", timeout=120)
    assert started.returncode == 0, started.stderr.decode()
    job_id = started.stdout.decode().strip()
    followed = gang.wb("-q", "logs", "-f", job_id, timeout=60)
    assert followed.returncode == 4, followed.stderr.decode()
    assert b"gang: rank 1 exited with 4" in followed.stderr
    assert all((host.status(job_id) or {}).get("exit_code") == 4 for host in hosts)


def supervisors(host: GangHost) -> list[int]:
    found = subprocess.run(["pgrep", "-u", host.host.user.name, "-f", "gang-rank"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def wait_gang_formed(hosts: list[GangHost], timeout: float = 20.0) -> None:
    """Every other rank's supervisor holds a connection to rank 0's gang port (the link is up), seen with `ss`."""
    hub_port = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in supervisors(hosts[0]):
            words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"--gang-hub" in words:
                hub_port = words[words.index(b"--gang-hub") + 1].decode().rpartition(":")[2]
        if hub_port is not None:
            listing = hosts[0].ns.run(["ss", "-tn", "state", "established", f"( sport = :{hub_port} )"]).stdout
            if all(host.address in listing for host in hosts[1:]):
                return
        time.sleep(0.2)
    where = {
        rank: [(pid, [Path(f"/proc/{pid}/task/{task}/wchan").read_text() for task in os.listdir(f"/proc/{pid}/task")])
               for pid in supervisors(host)]
        for rank, host in enumerate(hosts)
    }  # fmt: skip
    raise AssertionError(f"the gang link did not form within {timeout:g} s (hub port {hub_port}); threads: {where}")


def test_a_rank_machine_killed_mid_job_ends_the_gang(gang: Project, hosts: list[GangHost]) -> None:
    run = Attached(gang.popen("run", "--nodes", "3", "--all-nodes", "--", "python3", "fail_one.py"), "run")
    run.wait_stdout(r"rank 0 up", 90)
    wait_gang_formed(hosts)
    job_id = next(path.name for path in (hosts[1].host.user.home / ".weatherballoon" / "jobs").iterdir())
    killed_at = time.monotonic()
    hosts[1].kill_machine()
    try:
        code = run.wait(timeout=GANG_STOP_BOUND_S + SLACK_S + 30)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nstderr: {run.stderr}\nrank 2: {hosts[2].status(job_id)}") from None
    ended_s = time.monotonic() - killed_at
    assert code == 255, run.stderr
    assert "gang: rank 1 stopped answering" in run.stderr or "gang: rank 1 lost its supervisor" in run.stderr
    assert ended_s < GANG_STOP_BOUND_S + SLACK_S, run.stderr
    status = hosts[2].status(job_id)
    assert status is not None and status["exit_code"] == 255 and status["stop_reason"] == "gang"
    record(f"rank 1's machine vanished (link dropped, processes killed): the gang ended in {ended_s:.1f} s")


def test_ctrl_c_reaches_every_rank(gang: Project, hosts: list[GangHost]) -> None:
    run = Attached(gang.popen("run", "--nodes", "3", "--all-nodes", "--", "python3", "fail_one.py"), "run")
    run.wait_stdout(r"rank 0 up", 90)
    deadline = time.monotonic() + 30
    while not all(f"[rank {rank}] rank {rank} up" in run.stderr for rank in (1, 2)):
        assert time.monotonic() < deadline, run.stderr
        time.sleep(0.1)
    run.proc.send_signal(signal.SIGINT)
    code = run.wait(timeout=60)
    assert code == 130, run.stderr
    assert "rank 0 got signal 2" in run.stdout, run.stderr
    job_id = next(path.name for path in (hosts[2].host.user.home / ".weatherballoon" / "jobs").iterdir())
    for rank in (1, 2):
        replay = gang.wb("-q", "logs", job_id, "--node", str(rank))
        assert f"rank {rank} got signal 2".encode() in replay.stdout, replay.stdout


def test_more_nodes_than_hosts_is_a_config_error(gang: Project) -> None:
    result = gang.wb("-q", "run", "--nodes", "4", "--", "true")
    assert result.returncode == 2
    assert b"--nodes 4 needs 4 hosts, and provisioner.hosts lists 3" in result.stderr
    alone = gang.wb("-q", "run", "--all-nodes", "--", "true")
    assert alone.returncode == 2 and b"--all-nodes shows the other ranks" in alone.stderr


def test_an_unreachable_host_fails_the_launch_naming_it(gang: Project, hosts: list[GangHost]) -> None:
    hosts[2].host.stop()
    result = gang.wb("-q", "run", "--nodes", "3", "--", "true", timeout=90)
    assert result.returncode == 255
    assert f"{hosts[2].host.spec} is unreachable".encode() in result.stderr, result.stderr
    assert b"only 2 of the 3 hosts are reachable and idle" in result.stderr


def test_wb_pull_brings_every_rank_s_outputs(gang: Project) -> None:
    started = gang.wb("-q", "run", "-d", "--nodes", "3", "--", "python3", "env_dump.py", "NODE_RANK", timeout=120)
    assert started.returncode == 0, started.stderr.decode()
    job_id = started.stdout.decode().strip()
    assert gang.wb("-q", "logs", "-f", job_id, timeout=60).returncode == 0
    pulled = gang.wb("pull", job_id, timeout=60)
    assert pulled.returncode == 0, pulled.stderr.decode()
    for rank in range(NODES):
        folder = gang.root if rank == 0 else gang.root / f"rank-{rank}"
        assert json.loads((folder / "out" / "env.json").read_text())["NODE_RANK"] == str(rank)
