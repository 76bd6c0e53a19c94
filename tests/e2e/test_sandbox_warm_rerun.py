"""A warm re-run through `wb sandbox`: the machine this project's last run left warm is taken through its
daemon, with no AWS call (not even an import of botocore) before the job; and when that machine is gone the
run says so and launches another.

Lease 0.2 min, idle window 1 min (long enough for the re-runs), reaper every 2 s.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator

import pytest
from weatherballoon.lambdas.records import InstanceState

from tests.e2e.sandbox_support import Client, Lab, sandbox_up, up_args, wait_for
from tests.integration.sandbox.conftest import sandbox_unavailable

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(400)]

# The direct path, with the launch key: a warm run there makes no AWS call before its job. Through the
# Instance Connect Endpoint (the sandbox's default) each connection pushes a key, which needs AWS
# (tests/e2e/test_sandbox_tunnel.py).
DIRECT = "private-ip"
REAPER_PERIOD_S = 2.0
LEASE_MINUTES = 0.2
IDLE_MINUTES = 1.0


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    why = sandbox_unavailable()
    if why:
        pytest.skip(f"sandbox: {why}")
    root, cwd = tmp_path_factory.mktemp("sandbox-warm"), tmp_path_factory.mktemp("cwd-warm")
    with sandbox_up(root, cwd, up_args(REAPER_PERIOD_S, LEASE_MINUTES, IDLE_MINUTES)) as box:
        found = Lab(box, tmp_path_factory.mktemp("projects-warm"), reaper_period_s=REAPER_PERIOD_S,
                    lease_minutes=LEASE_MINUTES, idle_minutes=IDLE_MINUTES)  # fmt: skip
        try:
            yield found
        finally:
            found.close()


def warm_up(client: Client) -> str:
    first = client.wb("run", "--", "true").check()
    instance_id = first.launched()
    assert instance_id is not None, first.stderr
    client.wait_row(instance_id, lambda r: r.state is InstanceState.IDLE, 30, "idle after the first job")
    return instance_id


def imported(stderr: str) -> set[str]:
    """Module names from python's import-time profile (PYTHONPROFILEIMPORTTIME=1) in a run's stderr."""
    return {m.group(1) for m in re.finditer(r"^import time:.*\|\s*(\S+)$", stderr, re.MULTILINE)}


def test_a_warm_rerun_takes_its_machine_through_the_daemon_without_aws(lab: Lab) -> None:
    client = lab.client("warm-rerun", WB_CONNECT=DIRECT)
    instance_id = warm_up(client)

    again = client.wb("run", "--max-cost", "3", "--", "sh", "-c", 'echo "job=$WB_JOB_ID"; echo err >&2; exit 5',
                      env={"PYTHONPROFILEIMPORTTIME": "1", "WB_TRACE": "1"})  # fmt: skip
    again.check(5)
    assert again.stdout.startswith("job=") and "err\n" in again.stderr
    assert again.reused() == instance_id, again.stderr
    assert "claimed through the agent" in again.stderr
    modules = imported(again.stderr)
    assert "paramiko" in modules  # the profile covers the whole run...
    assert not {name for name in modules if name.split(".")[0] in ("boto3", "botocore")}  # ...and no AWS client

    # The daemon, woken by the job's start and end, wrote its row (with the cap) and released the machine.
    job_id = again.stdout.split("=", 1)[1].strip()
    job = wait_for(lambda: next((j for j in client.jobs(instance_id) if j.job_id == job_id and j.ended_at), None),
                   15, "the job's row, closed")  # fmt: skip
    assert (job.exit_code, job.max_cost_usd) == (5, 3.0)
    row = client.wait_row(instance_id, lambda r: r.state is InstanceState.IDLE, 10, "idle after the re-run")
    assert row.lease_until > time.time() + 30  # the warm window again

    # Longer than one lease-renewal interval (a third of the 12 s lease): the client's renewal thread builds
    # its table client then, in the background, and renews.
    third = client.wb("run", "--", "sh", "-c", "sleep 6; echo third", env={"WB_TRACE": "1"}).check()
    assert (third.stdout, third.reused()) == ("third\n", instance_id)
    assert "lease renewed by the client" in third.stderr and "renewal failed" not in third.stderr, third.stderr
    client.wb("down", instance_id, "--yes").check()
    notes = client.data_dir / "aws-warm.json"
    assert instance_id not in (notes.read_text() if notes.exists() else "")  # wb down dropped the note


def test_a_remembered_machine_that_is_gone_is_looked_up_again(lab: Lab) -> None:
    client = lab.client("warm-gone", WB_CONNECT=DIRECT)
    instance_id = warm_up(client)
    lab.ec2.terminate_instances(InstanceIds=[instance_id])  # behind wb's back: the note is still there
    wait_for(lambda: lab.box.live_host(instance_id) is None, 30, f"the host of {instance_id} to go")

    run = client.wb("run", "--", "echo", "still works").check()
    assert run.stdout == "still works\n"
    assert f"the last warm instance {instance_id} cannot be taken" in run.stderr
    assert run.launched() not in (None, instance_id), run.stderr
    client.wb("down", "--all", "--yes").check()


def test_a_claim_made_early_but_not_used_is_given_back(lab: Lab) -> None:
    """`--fresh` after a run: the early connection already claimed the remembered machine; the run launches
    a new one, and gives the old one back to the warm pool before it exits."""
    client = lab.client("warm-fresh", WB_CONNECT=DIRECT)
    instance_id = warm_up(client)
    fresh = client.wb("run", "--fresh", "--", "true").check()
    assert fresh.launched() not in (None, instance_id), fresh.stderr
    row = client.row(instance_id)
    assert row is not None and row.state is InstanceState.IDLE, row
    again = client.wb("run", "--", "echo", "back").check()
    assert again.reused() in (instance_id, fresh.launched())
    client.wb("down", "--all", "--yes").check()


def test_a_run_that_fails_before_it_chooses_a_machine_gives_the_early_claim_back(lab: Lab) -> None:
    """The early connection claims the remembered machine before the command line is even parsed; a bad
    flag must not leave that machine claimed (busy, with no job) until its lease runs out."""
    client = lab.client("warm-bad-flag", WB_CONNECT=DIRECT)
    instance_id = warm_up(client)
    for _ in range(3):  # the claim may not have begun when the command fails, or be under way: either way
        bad = client.wb("run", "--max-cost", "lots", "--", "true", env={"WB_TRACE": "1"})
        assert bad.returncode == 2 and "Invalid value for '--max-cost'" in bad.stderr, bad.stderr
        row = client.row(instance_id)
        assert row is not None and row.state is InstanceState.IDLE, (row, bad.stderr)  # nothing stays claimed
    again = client.wb("run", "--", "echo", "fine").check()
    assert (again.stdout, again.reused()) == ("fine\n", instance_id)
    client.wb("down", "--all", "--yes").check()


def test_a_warm_machine_that_refuses_the_login_is_ended_not_handed_back(lab: Lab) -> None:
    """What `shutdown -h +N` did to every warm machine: logind's /run/nologin, and pam_nologin then refuses the
    login user. The run that finds such a machine ends it; it must never go back to the pool for the next."""
    client = lab.client("warm-nologin", WB_CONNECT=DIRECT)
    instance_id = warm_up(client)
    (lab.box.root / "hosts" / instance_id / "run" / "nologin").write_text("System is going down.\n")

    refused = client.wb("run", "--", "true")
    assert refused.returncode == 255, refused.stderr
    assert f"terminated {instance_id}: it did not accept the SSH login" in refused.stderr, refused.stderr
    wait_for(lambda: lab.box.live_host(instance_id) is None, 30, f"the host of {instance_id} to go")
    row = client.row(instance_id)
    assert row is not None and row.mark is not None and row.mark.startswith("unreachable"), row

    again = client.wb("run", "--", "echo", "fresh").check()
    assert again.stdout == "fresh\n" and again.launched() not in (None, instance_id), again.stderr
    client.wb("down", "--all", "--yes").check()


def test_a_plain_login_user_keeps_its_machine_past_the_boot_deadline(lab: Lab) -> None:
    """The login user here is not `ubuntu` and has no sudo of its own: only the user-data's grant lets its agent
    re-arm the dead-man timer. Without it the boot deadline (the lease plus a minute: 72 s) ends the machine
    in the middle of the job."""
    client = lab.client("plain-user", WB_CONNECT=DIRECT)
    started = client.wb("run", "-d", "--", "sleep", "600").check()
    instance_id = started.instance()
    host = wait_for(lambda: lab.box.live_host(instance_id), 10, "the host")
    boot_deadline = host["ready_at"] + math.ceil(LEASE_MINUTES * 60) + 60
    time.sleep(max(0.0, boot_deadline + 35 - time.time()))  # past it, and past one 30 s check of the timer
    assert instance_state(lab, instance_id) == "running"
    assert (lab.box.live_host(instance_id) or {}).get("deadline", 0) > boot_deadline  # re-armed since
    log = (lab.box.root / "hosts" / instance_id / "home" / ".weatherballoon" / "daemon.log").read_text()
    assert "arm-deadman" in log and "result=ok" in log and "FAILED" not in log, log[-2000:]
    [job] = [j for j in client.jobs(instance_id) if j.ended_at is None]
    assert job.command == ("sleep", "600")
    client.wb("down", instance_id, "--yes").check()


def instance_state(lab: Lab, instance_id: str) -> str:
    answer = lab.ec2.describe_instances(InstanceIds=[instance_id])
    return str(answer["Reservations"][0]["Instances"][0]["State"]["Name"])
