"""boot.py, run as the sandbox runs it: the host key fingerprint into the row, agent.env for the daemon."""

from __future__ import annotations

import stat
import subprocess
import threading
import time

from weatherballoon.remote.daemon.agent_env import AgentEnv, parse

from .conftest import BUCKET, OWNER, REGION, TABLE, Machine


def ssh_keygen_fingerprint(pub: str) -> str:
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", pub], capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


def test_boot_writes_the_fingerprint_and_agent_env_and_can_run_again(machine: Machine) -> None:
    machine.create_row()

    first = machine.boot()
    assert first.returncode == 0, first.stderr
    env_file = machine.home / "agent.env"
    written = env_file.read_text()
    again = machine.boot()

    assert again.returncode == 0, again.stderr
    assert env_file.read_text() == written
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(machine.home.stat().st_mode) == 0o700
    assert machine.row().host_key_fingerprint == ssh_keygen_fingerprint(str(machine.host_key))
    values = parse(written)
    assert {k: values[k] for k in ("WB_INSTANCE_ID", "WB_INSTANCE_ARN", "WB_ROW_PK", "WB_TABLE", "WB_REGION")} == {
        "WB_INSTANCE_ID": machine.instance_id,
        "WB_INSTANCE_ARN": machine.arn,
        "WB_ROW_PK": machine.pk,
        "WB_TABLE": TABLE,
        "WB_REGION": REGION,
    }
    assert (values["WB_BUCKET"], values["WB_S3_PREFIX"]) == (BUCKET, f"{OWNER}/{machine.arn}/")
    assert values["AWS_ENDPOINT_URL"] == machine.endpoint
    assert values["WB_RENEW_SECONDS"] == "0.25"  # from WB_AGENT_ENV_EXTRA
    loaded = AgentEnv.load(str(env_file))
    assert (loaded.owner, loaded.instance_arn, loaded.lease_minutes, loaded.idle_minutes) == (
        OWNER, machine.arn, 0.05, 0.05,
    )  # fmt: skip


def test_boot_waits_for_the_client_to_write_the_row(machine: Machine) -> None:
    late = threading.Timer(1.0, machine.create_row)
    late.start()
    started = time.monotonic()
    result = machine.boot()
    late.join()

    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 1.0
    assert machine.row().host_key_fingerprint is not None


def test_boot_without_a_row_gives_up_after_its_wait_and_says_why(machine: Machine) -> None:
    result = machine.boot(WB_BOOT_WAIT_S="0.5")

    assert result.returncode == 1
    assert "wb-boot:" in result.stderr and "the row does not exist" in result.stderr
    assert (machine.home / "agent.env").exists()  # the daemon can still start and will power off


def test_boot_reads_settings_from_user_data_markers(machine: Machine) -> None:
    machine.create_row()
    user_data = machine.home.parent / "user-data"
    user_data.write_text(f"#!/bin/bash\n# wb:table {TABLE}\n# wb:lease-minutes 7\n# wb:owner {OWNER}\necho hi\n")

    result = machine.boot(WB_TABLE="", WB_OWNER="", WB_LEASE_MINUTES="", WB_USER_DATA=str(user_data))

    assert result.returncode == 0, result.stderr
    values = parse((machine.home / "agent.env").read_text())
    assert (values["WB_TABLE"], values["WB_LEASE_MINUTES"], values["WB_ROW_PK"]) == (TABLE, "7", machine.pk)
