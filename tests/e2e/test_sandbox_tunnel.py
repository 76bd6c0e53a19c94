"""Machines reached through the sandbox's EC2 Instance Connect Endpoint, with keys that live for a minute:
`wb sandbox env` sets no connect mode, the stack has an endpoint, so wb connects with `eice`. Once the job's
output flows, the endpoint is told to end every tunnel after 2 s (its `cut-after-seconds` file), and the
attached run (and `wb logs -f` on it) gets every byte once, in order, and the job's own exit code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.sandbox_support import Client, Lab, Run, sandbox_up, up_args
from tests.integration.sandbox.conftest import sandbox_unavailable
from tests.support.requirements import unavailable

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(400)]
TUNNEL_S = 2
# A bounded writer: 120 numbered lines to each stream over about 12 s, then exit 7.
WRITER = (
    "import sys, time\n"
    "for i in range(120):\n"
    "    sys.stdout.write(f'out {i:04d} ' + 'x' * 200 + '\\n'); sys.stdout.flush()\n"
    "    sys.stderr.write(f'err {i:04d}\\n'); sys.stderr.flush()\n"
    "    time.sleep(0.1)\n"
    "sys.exit(7)\n"
)
EXPECTED_OUT = "".join(f"out {i:04d} " + "x" * 200 + "\n" for i in range(120))
EXPECTED_ERR = "".join(f"err {i:04d}\n" for i in range(120))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    why = sandbox_unavailable()
    if why:
        unavailable(f"sandbox: {why}")
    root, cwd = tmp_path_factory.mktemp("sandbox-eice"), tmp_path_factory.mktemp("cwd-eice")
    args = up_args(2.0, 0.5, 1.0)
    with sandbox_up(root, cwd, args) as box:
        found = Lab(box, tmp_path_factory.mktemp("projects-eice"), reaper_period_s=2.0, lease_minutes=0.5,
                    idle_minutes=1.0)  # fmt: skip
        try:
            yield found
        finally:
            found.close()


def _sandbox(lab: Lab) -> Path:
    return lab.box.data_dir / "sandbox"


def _tunnels_ended(lab: Lab) -> int:
    return (_sandbox(lab) / "logs" / "daemon.log").read_text(errors="replace").count("tunnel expired")


def _through_cut_tunnels(lab: Lab, client: Client, *args: str, first_output_s: float = 180) -> Run:
    """`wb ARGS`, attached; once the job's first line is out, the endpoint cuts every tunnel after TUNNEL_S."""
    cut = _sandbox(lab) / "eice" / "cut-after-seconds"
    attached = client.popen(*args)
    try:
        attached.wait_stdout("out 0001", timeout=first_output_s)
        cut.write_text(f"{TUNNEL_S}\n")
        return attached.finish(timeout=180)
    finally:
        cut.unlink(missing_ok=True)


def test_an_attached_run_survives_tunnel_expiry_with_every_byte_intact(lab: Lab) -> None:
    client = lab.client("eice")
    (client.project / "writer.py").write_text(WRITER)
    assert "WB_CONNECT" not in lab.box.exported and "AWS_CA_BUNDLE" in lab.box.exported
    ended_before = _tunnels_ended(lab)
    run = _through_cut_tunnels(lab, client, "run", "--", "python3", "writer.py")
    assert run.returncode == 7, run.stderr[-3000:]
    assert run.stdout == EXPECTED_OUT
    assert EXPECTED_ERR in run.stderr  # wb's own notices come before, never inside, the job's stderr
    assert _tunnels_ended(lab) - ended_before >= 2  # the 12 s stream crossed at least two tunnel ends
    # No private key was written: in eice mode a launch makes none, and each connection's key lives in memory.
    keys = client.data_dir / "keys"
    assert not keys.exists() or not [p for p in keys.iterdir() if p.name.startswith("i-")]

    job_id = next(line.split()[0] for line in client.wb("jobs").check().stdout.splitlines()[1:] if line.strip())
    follow = client.wb("logs", "-f", job_id, timeout=120)
    assert follow.returncode == 7 and follow.stdout == EXPECTED_OUT and EXPECTED_ERR in follow.stderr


def test_logs_follow_survives_tunnel_expiry_with_every_byte_intact(lab: Lab) -> None:
    client = lab.client("eice-logs")
    (client.project / "writer.py").write_text(WRITER)
    job_id = client.wb("run", "-d", "--", "python3", "writer.py", timeout=240).check().stdout.strip()
    ended_before = _tunnels_ended(lab)
    done = _through_cut_tunnels(lab, client, "logs", "-f", job_id, first_output_s=120)
    assert done.returncode == 7, done.stderr[-3000:]
    assert done.stdout == EXPECTED_OUT and EXPECTED_ERR in done.stderr
    assert _tunnels_ended(lab) - ended_before >= 2


def test_a_run_through_the_connection_keeper_reconnects_across_forced_tunnel_expiry(lab: Lab) -> None:
    """The keeper holds the tunnel and the transport; when the endpoint ends the tunnel, the attached run
    follows on through the keeper, which reconnects (a new tunnel, a new pushed key) the way it first did."""
    import tempfile

    from weatherballoon.lambdas.records import InstanceState

    from tests.support.project import keeper_pids
    from tests.support.waiting import wait_for

    runtime = Path(tempfile.mkdtemp(prefix="wbk-"))
    client = lab.client("eice-keeper", WB_KEEP_CONNECTION_MINUTES="5", WB_RUNTIME_DIR=str(runtime))
    (client.project / "writer.py").write_text(WRITER)
    try:
        first = client.wb("run", "--", "true", timeout=240).check()
        instance_id = first.launched()
        assert instance_id is not None, first.stderr
        client.wait_row(instance_id, lambda r: r.state is InstanceState.IDLE, 30, "idle after the first job")
        (keeper,) = wait_for(lambda: keeper_pids(runtime), 60, "the keeper to hold its tunnel")
        ended_before = _tunnels_ended(lab)
        run = _through_cut_tunnels(lab, client, "run", "--", "python3", "writer.py")
        assert run.returncode == 7, run.stderr[-3000:]
        assert f"reusing warm instance {instance_id}" in run.stderr, run.stderr[:2000]
        assert run.stdout == EXPECTED_OUT
        assert EXPECTED_ERR in run.stderr
        assert _tunnels_ended(lab) - ended_before >= 2  # the keeper's tunnels ended, and it opened new ones
        # The same keeper carried the run across the ends: each new connection of its own ran a serve of its own.
        assert keeper_pids(runtime) == [keeper]
        log = next(log for log in (runtime / "keepers").glob("*.log") if log.name != "warm.log").read_text()
        assert log.count("agent serve runs on") >= 3, log
        again = client.wb("-v", "run", "--", "echo", "after").check()
        assert again.stdout == "after\n" and "using the connection keeper" in again.stderr
    finally:
        import os
        import shutil
        import signal

        for pid in keeper_pids(runtime):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(runtime, ignore_errors=True)


class _RefusingProxy:
    """An HTTP(S) proxy on loopback that answers nothing and notes every connection made to it: with it as
    the command's proxy, any AWS call the command makes is seen here (and fails)."""

    def __init__(self) -> None:
        import socket
        import threading

        self.heard: list[bytes] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    self.heard.append(conn.recv(200))
                except OSError:
                    self.heard.append(b"")

    def env(self) -> dict[str, str]:
        return {"HTTPS_PROXY": self.url, "HTTP_PROXY": self.url, "https_proxy": self.url, "http_proxy": self.url,
                "NO_PROXY": "", "no_proxy": ""}  # fmt: skip

    def close(self) -> None:
        self._listener.close()


def test_a_keeper_warm_run_through_the_tunnel_makes_no_aws_call_and_still_claims(lab: Lab) -> None:
    """The keeper holds the tunnel and the transport: a warm run through it needs no STS, CloudFormation,
    DescribeInstances, DescribeInstanceConnectEndpoints, SendSSHPublicKey or table call. It still claims the
    machine for its job, through the machine's daemon (the lease follows the command)."""
    import tempfile

    from weatherballoon.lambdas.records import InstanceState

    from tests.support.project import keeper_pids
    from tests.support.waiting import wait_for

    runtime = Path(tempfile.mkdtemp(prefix="wbk-"))
    client = lab.client("eice-no-aws", WB_KEEP_CONNECTION_MINUTES="5", WB_RUNTIME_DIR=str(runtime))
    proxy = _RefusingProxy()
    try:
        first = client.wb("run", "--", "true", timeout=240).check()
        instance_id = first.launched()
        assert instance_id is not None, first.stderr
        client.wait_row(instance_id, lambda r: r.state is InstanceState.IDLE, 30, "idle after the first job")
        wait_for(lambda: keeper_pids(runtime), 60, "the keeper to hold its tunnel")
        # Once through the full lookup with the keeper warm: that run notes the endpoint with the machine.
        client.wb("run", "--", "true", timeout=120).check()
        client.wait_row(instance_id, lambda r: r.state is InstanceState.IDLE, 30, "idle after the second job")

        attached = client.popen("-v", "run", "--", "sh", "-c", "echo warm; sleep 3; echo done", env=proxy.env())
        attached.wait_stdout("warm\n", timeout=60)
        row = client.row(instance_id)
        assert row is not None and row.state is InstanceState.BUSY and row.claim, row  # claimed for this job
        run = attached.finish(timeout=60)
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.stdout == "warm\ndone\n"
        assert f"reusing warm instance {instance_id}" in run.stderr, run.stderr
        assert "using the connection keeper" in run.stderr, run.stderr
        assert proxy.heard == [], proxy.heard  # not one AWS call
    finally:
        import os
        import shutil
        import signal

        proxy.close()
        for pid in keeper_pids(runtime):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(runtime, ignore_errors=True)


def test_with_no_keeper_the_remembered_machine_is_reached_through_its_noted_endpoint(lab: Lab) -> None:
    """The machine is remembered with its endpoint: the next run (keeper off) takes it with no lookup, pushing
    a key and opening a tunnel of its own, and claims it through its daemon."""
    from weatherballoon.lambdas.records import InstanceState

    client = lab.client("eice-remembered")
    first = client.wb("run", "--", "true", timeout=240).check()
    instance_id = first.launched()
    assert instance_id is not None, first.stderr
    notes = json.loads((client.data_dir / "aws-warm.json").read_text())
    (note,) = notes.values()
    assert note["instance_id"] == instance_id and note["tunnel"]["id"].startswith("eice-"), note
    client.wait_row(instance_id, lambda r: r.state is InstanceState.IDLE, 30, "idle after the first job")
    again = client.wb("run", "--", "echo", "again", timeout=120).check()
    assert again.stdout == "again\n"
    assert again.reused() == instance_id, again.stderr
    assert "looking again" not in again.stderr, again.stderr
