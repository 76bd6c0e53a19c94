"""Hosts of the sandbox: one per wb instance, reached by SSH (with PAM) at the instance's private IP, set up
by the user-data's root setup and booted by the real boot program, and ended by EC2 (terminate), by
themselves (the agent's power-off, the dead-man timer, a scheduled shutdown) or by the reaper."""

from __future__ import annotations

import math
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import paramiko
import pytest
from weatherballoon.cli.session.hostkeys import fingerprint
from weatherballoon.lambdas.dynamo_store import DynamoStore
from weatherballoon.remote.daemon.agent_env import DEFAULT_ARM_SHUTDOWN_COMMAND, DEFAULT_POWEROFF_COMMAND
from weatherballoon.remote.daemon.poweroff import arm_command

from tests.integration.sandbox.support import (
    Launched,
    Sandbox,
    instance_state,
    launch,
    legacy_user_data,
    namespaces,
    user_data,
)
from tests.support.sshd import keygen
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def login_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return keygen(tmp_path_factory.mktemp("sandbox-key") / "id_ed25519")


def wb_user_data(sandbox: Sandbox, key: Path, **changes: Any) -> str:
    state = sandbox.state()
    settings: dict[str, Any] = {
        "user": state["account"], "key": Path(f"{key}.pub").read_text().strip(), "table": state["table_name"],
        "bucket": state["bucket"], "lease_minutes": 0.2,
    }  # fmt: skip
    settings.update(changes)
    return user_data(**settings)


def ready_host(sandbox: Sandbox, launched: Launched) -> dict[str, Any]:
    def booted() -> dict[str, Any] | None:
        host = sandbox.live_host(launched.instance_id)
        return host if host is not None and host["state"] in ("ready", "failed") else None

    return wait_for(booted, 20, f"a booted host for {launched.instance_id}")


def connect(host: str, user: str, key: Path) -> tuple[paramiko.SSHClient, str]:
    """SSH as the client does, returning the server's host key fingerprint alongside."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(host, 22, username=user, key_filename=str(key), timeout=5, allow_agent=False,
                   look_for_keys=False)  # fmt: skip
    transport = client.get_transport()
    assert transport is not None
    return client, fingerprint(transport.get_remote_server_key())


def run(client: paramiko.SSHClient, command: str) -> tuple[int, str]:
    _, stdout, stderr = client.exec_command(command, timeout=20)
    out = stdout.read().decode() + stderr.read().decode()
    return stdout.channel.recv_exit_status(), out


def host_gone(sandbox: Sandbox, launched: Launched, namespace: str) -> dict[str, Any]:
    ended = wait_for(lambda: sandbox.ended_host(launched.instance_id), 15, f"{launched.instance_id}'s host ends")
    assert namespace not in namespaces()
    # no route to the host's link is left; the sandbox's fence refuses the address instead
    route = subprocess.run(["ip", "route", "get", launched.private_ip], capture_output=True, text=True, check=False)
    assert route.returncode != 0 and "no route to host" in route.stderr.lower(), route
    return ended


def test_a_launched_instance_gets_a_host_at_its_private_ip(sandbox: Sandbox, login_key: Path) -> None:
    launched = launch(sandbox, wb_user_data(sandbox, login_key))
    host = ready_host(sandbox, launched)
    assert host["state"] == "ready", host
    assert host["private_ip"] == launched.private_ip and host["user"] == sandbox.state()["account"]
    assert host["namespace"] in namespaces()
    client, seen = connect(launched.private_ip, host["user"], login_key)
    with client:
        # the boot program wrote the fingerprint of the key this sshd really serves into the instance row
        store = DynamoStore(sandbox.state()["table_name"], client=sandbox.client("dynamodb"))
        row = store.get_instance(launched.owner, launched.arn)
        assert row is not None and row.host_key_fingerprint == seen == host["fingerprint"]
        # its own hostname, EC2's IP name, resolving to its private IP (so gloo and Open MPI find that address)
        code, names = run(client, 'hostname; getent hosts "$(hostname)"; cat /etc/hostname')
        name = "ip-" + launched.private_ip.replace(".", "-")
        assert (code, names.split()) == (0, [name, launched.private_ip, name, name]), names
        code, env = run(client, "cat ~/.weatherballoon/agent.env")
        assert code == 0, env
        values = dict(line.split("=", 1) for line in env.splitlines())
        assert values["WB_INSTANCE_ID"] == launched.instance_id and values["WB_RENEW_SECONDS"] == "1.2"
        assert values["AWS_ENDPOINT_URL"] == f"http://{sandbox.state()['gateway']}:{sandbox.state()['port']}"
        # the host's python has boto3 and reaches the control plane through the relay, as the agent will
        probe = "import boto3; print(len(boto3.client('ec2').describe_instances()['Reservations']))"
        aws = {k: v for k, v in values.items() if k.startswith("AWS_")} | {"AWS_DEFAULT_REGION": values["WB_REGION"]}
        settings = " ".join(f"{k}={shlex.quote(v)}" for k, v in aws.items())
        code, out = run(client, f"env {settings} /opt/wb/venv/bin/python -c {shlex.quote(probe)}")
        assert code == 0 and int(out) >= 1, out
    ec2 = sandbox.client("ec2")
    ec2.terminate_instances(InstanceIds=[launched.instance_id])
    ended = host_gone(sandbox, launched, host["namespace"])
    assert ended["state"] == "terminated"


def test_the_agents_power_off_command_works_for_the_plain_login_user_through_its_grant(
    sandbox: Sandbox, login_key: Path
) -> None:
    launched = launch(sandbox, wb_user_data(sandbox, login_key))
    host = ready_host(sandbox, launched)
    client, _ = connect(launched.private_ip, host["user"], login_key)
    with client:
        # the login user is a plain user: sudo runs exactly what the user-data granted, nothing else
        code, out = run(client, "sudo -n true")
        assert code != 0 and "password is required" in out, out
        code, out = run(client, "sudo -n /usr/local/sbin/systemctl poweroff")
        assert code != 0 and "password is required" in out, out
        code, out = run(client, "/opt/wb/bin/wb-power off unprivileged")  # without sudo: polkit says no
        assert code != 0 and "Interactive authentication required" in out, out
        # exactly what remote/daemon/poweroff.py runs by default, with the reason in the environment
        run(client, f"WB_POWEROFF_REASON=lease-expired sh -c {shlex.quote(DEFAULT_POWEROFF_COMMAND)}")
    wait_for(lambda: instance_state(sandbox, launched.instance_id) == "terminated", 10, "the instance is terminated")
    ended = host_gone(sandbox, launched, host["namespace"])
    assert ended["state"] == "powered-off" and "wb: lease-expired" in ended["reason"], ended


def test_the_dead_man_timer_powers_the_host_off(sandbox: Sandbox, login_key: Path) -> None:
    launched = launch(sandbox, wb_user_data(sandbox, login_key))
    host = ready_host(sandbox, launched)
    boot_seconds = math.ceil(0.2 * 60) + 60  # the user-data's `wb-power arm`: the lease plus a minute
    assert host["deadline"] == pytest.approx(host["ready_at"] + boot_seconds, abs=5)
    client, _ = connect(launched.private_ip, host["user"], login_key)
    with client:
        code, out = run(client, arm_command(DEFAULT_ARM_SHUTDOWN_COMMAND, 2))  # the agent's re-arm, 2 s away
        assert code == 0, out
    armed = time.time()
    # wb-deadman.timer runs `wb-power check` every 30 s (OnUnitActiveSec): it fires within one period
    wait_for(lambda: instance_state(sandbox, launched.instance_id) == "terminated", 45, "the timer ends the host")
    assert time.time() - armed >= 2
    ended = host_gone(sandbox, launched, host["namespace"])
    assert ended["state"] == "powered-off" and "dead-man deadline passed" in ended["reason"], ended


def test_logins_stay_open_while_the_dead_man_deadline_is_near(sandbox: Sandbox, login_key: Path) -> None:
    """logind would write /run/nologin five minutes before a `shutdown -h +N` (at once when N <= 5): the
    dead-man timer must never do that. Every deadline here is far closer than five minutes."""
    launched = launch(sandbox, wb_user_data(sandbox, login_key))
    host = ready_host(sandbox, launched)
    for seconds in (120, 90, 240):
        client, _ = connect(launched.private_ip, host["user"], login_key)
        with client:
            code, out = run(client, arm_command(DEFAULT_ARM_SHUTDOWN_COMMAND, seconds))
            assert code == 0, out
            code, out = run(client, "test ! -e /run/nologin && cat /run/wb-power/deadline")
            assert code == 0, out
    assert not (sandbox.root / "hosts" / launched.instance_id / "run" / "nologin").exists()
    sandbox.client("ec2").terminate_instances(InstanceIds=[launched.instance_id])
    host_gone(sandbox, launched, host["namespace"])


def in_host(sandbox: Sandbox, launched: Launched, *argv: str) -> subprocess.CompletedProcess[str]:
    """A command as root inside the host's namespaces (those of its sshd)."""
    pid = (sandbox.root / "hosts" / launched.instance_id / "ssh" / "sshd.pid").read_text().strip()
    return subprocess.run(["nsenter", "-t", pid, "-m", "-n", "--", *argv], capture_output=True, text=True, timeout=20)


def test_a_scheduled_shutdown_locks_logins_out_as_logind_does(sandbox: Sandbox, login_key: Path) -> None:
    """The old dead-man (`shutdown -h +N` at boot and on every re-arm): with N <= 5 logind writes /run/nologin at
    once, and pam_nologin refuses the login user. Rescheduling leaves the file; `shutdown -c` removes it."""
    state = sandbox.state()
    data = legacy_user_data(user=state["account"], key=Path(f"{login_key}.pub").read_text().strip(),
                            table=state["table_name"], bucket=state["bucket"], lease_minutes=0.2, arm=2)  # fmt: skip
    launched = launch(sandbox, data)
    host = ready_host(sandbox, launched)
    assert host["deadline"] == pytest.approx(host["ready_at"] + 120, abs=5)
    nologin = sandbox.root / "hosts" / launched.instance_id / "run" / "nologin"
    assert nologin.exists()
    with pytest.raises(paramiko.SSHException):  # pam_nologin: "Access denied ... by PAM account configuration"
        connect(launched.private_ip, host["user"], login_key)
    assert in_host(sandbox, launched, "/usr/local/sbin/shutdown", "-h", "+30").returncode == 0  # rescheduled
    assert nologin.exists()
    with pytest.raises(paramiko.SSHException):
        connect(launched.private_ip, host["user"], login_key)
    assert in_host(sandbox, launched, "/usr/local/sbin/shutdown", "-c").returncode == 0
    assert not nologin.exists()
    client, _ = connect(launched.private_ip, host["user"], login_key)
    client.close()
    assert not (sandbox.root / "hosts" / launched.instance_id / "etc" / "upper" / "sudoers.d" / "wb").exists()
    sandbox.client("ec2").terminate_instances(InstanceIds=[launched.instance_id])
    host_gone(sandbox, launched, host["namespace"])


def test_the_reaper_runs_on_its_timer(sandbox: Sandbox, login_key: Path) -> None:
    launched = launch(sandbox, wb_user_data(sandbox, login_key), lease_s=-1)  # its lease has lapsed already
    began = time.monotonic()
    wait_for(lambda: instance_state(sandbox, launched.instance_id) == "terminated", 8, "the reaper terminates it")
    assert time.monotonic() - began < 2 * 2 + 2  # two periods of 2 s, and a run's own time
    reaper = sandbox.wb("sandbox", "status")
    assert "reaper    every 2 s" in reaper.stdout
    wait_for(lambda: sandbox.ended_host(launched.instance_id) or sandbox.live_host(launched.instance_id) is None,
             10, "its host is removed")  # fmt: skip


def test_an_instance_that_is_not_a_sandbox_host_is_refused_with_a_reason(sandbox: Sandbox, login_key: Path) -> None:
    launched = launch(sandbox, wb_user_data(sandbox, login_key, user="ubuntu"), row=False)

    def settled() -> dict | None:  # the row shows "creating" until the host manager has decided
        host = sandbox.live_host(launched.instance_id)
        return host if host and host["state"] != "creating" else None

    host = wait_for(settled, 10, "a settled row for the refused instance")
    assert host["state"] == "failed" and "'ubuntu'" in host["reason"] and host["namespace"] is None
    status = sandbox.wb("sandbox", "status")
    assert launched.instance_id in status.stdout and "ubuntu" in status.stdout
    sandbox.client("ec2").terminate_instances(InstanceIds=[launched.instance_id])
    wait_for(lambda: sandbox.live_host(launched.instance_id) is None, 10, "the refusal is forgotten")
