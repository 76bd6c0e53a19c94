"""`wb sandbox up | env | status | down` through the real binary: a detached daemon, the exports, the
status, and a `down` that leaves nothing behind, even after the daemon was killed with -9 holding a host."""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.integration.sandbox.conftest import UP
from tests.integration.sandbox.support import Sandbox, launch, namespaces, user_data
from tests.support.sshd import keygen
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(150)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def nft_table(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nft", "list", "table", "ip", name], capture_output=True, text=True, check=False)


def test_lifecycle_and_cleanup_after_a_crash(fresh_sandbox_dir: Sandbox) -> None:
    box = fresh_sandbox_dir
    status = box.wb("sandbox", "status")
    assert status.returncode == 1 and "no sandbox is running" in status.stderr
    env = box.wb("sandbox", "env")
    assert env.returncode == 1 and env.stdout == "" and "wb sandbox up" in env.stderr

    up = box.wb(*UP, timeout=200)
    assert up.returncode == 0, up.stderr
    assert up.stdout == "" and "is up" in up.stderr
    state = box.state()
    assert alive(state["daemon_pid"]) and os.getsid(state["daemon_pid"]) != os.getsid(0)  # detached
    again = box.wb(*UP)
    assert again.returncode == 1 and "already running" in again.stderr

    exports = box.read_exports()
    assert exports["AWS_ENDPOINT_URL"] == f"http://localhost:{state['port']}"
    # No connect setting: the stack has the sandbox's Instance Connect Endpoint, so wb connects with eice,
    # trusting the endpoint's certificate through AWS_CA_BUNDLE.
    assert exports["WB_KIND"] == "aws" and "WB_CONNECT" not in exports and Path(exports["AWS_CA_BUNDLE"]).is_file()
    assert exports["WB_USERNAME"] == state["account"] and exports["WB_LEASE_MINUTES"] == "0.2"
    urllib.request.urlopen(exports["AWS_ENDPOINT_URL"] + "/moto-api/", timeout=5).close()
    stack = box.client("cloudformation").describe_stacks(StackName="weatherballoon")["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert stack["StackStatus"] == "CREATE_COMPLETE" and float(parameters["LeaseMinutes"]) == 0.2
    assert parameters["SshAccess"] == "eice" and parameters["InstanceConnectEndpointId"] == state["eice_id"]
    config = json.loads((box.root / "weatherballoon.json").read_text())
    assert "connect" not in config["provisioner"] and config["supervision"]["idleMinutes"] == 0.1

    status = box.wb("sandbox", "status")
    assert status.returncode == 0, status.stderr
    assert f"sandbox   {state['sandbox_id']}: ready" in status.stdout and "reaper    every 2 s" in status.stdout

    # a host is up when the daemon dies without a word
    keygen(box.cwd / "id_ed25519")
    launched = launch(box, user_data(user=state["account"], key=(box.cwd / "id_ed25519.pub").read_text().strip(),
                                     table=state["table_name"], bucket=state["bucket"], lease_minutes=0.2))  # fmt: skip
    host = wait_for(lambda: box.live_host(launched.instance_id), 15, "a host")
    wait_for(lambda: (box.live_host(launched.instance_id) or {}).get("state") == "ready", 15, "the host booted")
    assert host["namespace"] in namespaces()
    table = f"wbsbx_{state['sandbox_id']}"  # the security groups between hosts (sandbox/firewall.py)
    assert nft_table(table).returncode == 0
    os.kill(state["daemon_pid"], signal.SIGKILL)
    wait_for(lambda: not alive(state["daemon_pid"]), 5, "the daemon dies")
    status = box.wb("sandbox", "status")
    assert status.returncode == 1 and "daemon gone" in status.stdout

    down = box.wb("sandbox", "down")
    assert down.returncode == 0, down.stderr
    assert (
        f"removed namespace {host['namespace']}" in down.stderr and f"removed account {state['account']}" in down.stderr
    )
    assert host["namespace"] not in namespaces()
    assert f"removed nftables table {table}" in down.stderr and nft_table(table).returncode != 0
    assert not account_exists(state["account"])
    assert not alive(state["moto_pid"])
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert f"wb{state['sandbox_id']}" not in links
    routes = subprocess.run(["ip", "-o", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    assert state["network"] not in routes
    assert sorted(p.name for p in box.root.iterdir()) == ["logs"]

    again = box.wb("sandbox", "down")
    assert again.returncode == 0 and "no sandbox is running" in again.stderr
