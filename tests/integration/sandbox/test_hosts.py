"""Hosts of the sandbox: one per wb instance, reached by SSH at the instance's private IP, booted by the real
boot program, and ended by EC2 (terminate), by themselves (power-off, kernel timer) or by the reaper."""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import paramiko
import pytest
from weatherballoon.cli.session.hostkeys import fingerprint
from weatherballoon.lambdas.dynamo_store import DynamoStore

from tests.integration.sandbox.support import (
    Launched,
    Sandbox,
    instance_state,
    launch,
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


def test_the_power_off_command_terminates_the_instance(sandbox: Sandbox, login_key: Path) -> None:
    launched = launch(sandbox, wb_user_data(sandbox, login_key))
    host = ready_host(sandbox, launched)
    client, _ = connect(launched.private_ip, host["user"], login_key)
    with client:
        # exactly what remote/poweroff.py runs: the agent.env command, with the reason in the environment
        command = '"$(sed -n "s/^WB_POWEROFF_COMMAND=//p" ~/.weatherballoon/agent.env)"'
        code, out = run(client, f"WB_POWEROFF_REASON=lease-expired sh -c {command}")
        assert code == 0, out
    wait_for(lambda: instance_state(sandbox, launched.instance_id) == "terminated", 10, "the instance is terminated")
    ended = host_gone(sandbox, launched, host["namespace"])
    assert ended["state"] == "powered-off" and "lease-expired" in ended["reason"]


def test_the_kernel_timer_powers_the_host_off(sandbox: Sandbox, login_key: Path) -> None:
    launched = launch(sandbox, wb_user_data(sandbox, login_key))
    host = ready_host(sandbox, launched)
    assert host["deadline"] == pytest.approx(host["ready_at"] + 120, abs=5)  # the user-data's `shutdown -h +2`
    client, _ = connect(launched.private_ip, host["user"], login_key)
    with client:
        arm = "$(sed -n 's/^WB_ARM_SHUTDOWN_COMMAND=//p' ~/.weatherballoon/agent.env | sed 's/{minutes}/0.05/')"
        code, out = run(client, f'sh -c "{arm}"')
        assert code == 0, out
    armed = time.time()
    wait_for(lambda: instance_state(sandbox, launched.instance_id) == "terminated", 12, "the timer ends the host")
    assert time.time() - armed >= 2  # 0.05 min is 3 s, on whole seconds
    ended = host_gone(sandbox, launched, host["namespace"])
    assert ended["state"] == "powered-off" and "kernel timer" in ended["reason"]


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
