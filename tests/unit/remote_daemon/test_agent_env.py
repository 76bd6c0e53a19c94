"""agent.env: parsing, defaults, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from weatherballoon.cli.providers.aws import userdata_power
from weatherballoon.lambdas import schema
from weatherballoon.remote.daemon.agent_env import (
    DEFAULT_ARM_SHUTDOWN_COMMAND,
    DEFAULT_POWEROFF_COMMAND,
    AgentEnv,
    AgentEnvError,
    parse,
    render,
)
from weatherballoon.remote.daemon.poweroff import arm_command

ARN = schema.instance_arn("eu-west-1", "123456789012", "i-0abc")
PK = schema.instance_pk("AIDAX", ARN)
MINIMAL = {"WB_ROW_PK": PK, "WB_TABLE": "t", "WB_REGION": "eu-west-1"}


def test_parse_takes_everything_after_the_first_equals_and_skips_comments() -> None:
    text = "# written by boot.py\n\nA=1\nCMD=sh -c 'x=1; echo $x'\n  B = two \nA=3\nnoequals\n"
    assert parse(text) == {"A": "3", "CMD": "sh -c 'x=1; echo $x'", "B": "two"}


def test_render_round_trips_and_refuses_newlines() -> None:
    values = {"A": "1", "CMD": "echo a=b"}
    assert parse(render(values)) == values
    with pytest.raises(AgentEnvError):
        render({"A": "x\ny"})


def test_defaults() -> None:
    env = AgentEnv.from_values(MINIMAL, environ={})
    assert (env.owner, env.instance_arn, env.instance_id, env.row_pk) == ("AIDAX", ARN, "i-0abc", PK)
    assert (env.lease_minutes, env.idle_minutes, env.max_hours, env.renew_seconds) == (5.0, 10.0, 24.0, 30.0)
    assert env.poweroff_command == DEFAULT_POWEROFF_COMMAND
    assert env.arm_shutdown_command == DEFAULT_ARM_SHUTDOWN_COMMAND
    assert env.s3_prefix == f"AIDAX/{ARN}/" and env.bucket == ""
    assert (env.endpoint_url, env.access_key_id, env.imds_disabled) == (None, None, False)


def test_every_key() -> None:
    values = {
        **MINIMAL, "WB_INSTANCE_ARN": ARN, "WB_BUCKET": "b", "WB_S3_PREFIX": "p/", "WB_LEASE_MINUTES": "0.05",
        "WB_IDLE_MINUTES": "0", "WB_MAX_HOURS": "2", "WB_POWEROFF_COMMAND": "touch off",
        "WB_ARM_SHUTDOWN_COMMAND": "echo {minutes}", "WB_RENEW_SECONDS": "0.2", "WB_PUSH_DEADLINE_S": "9",
        "AWS_ENDPOINT_URL": "http://localhost:5000", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_EC2_METADATA_DISABLED": "true",
    }  # fmt: skip
    env = AgentEnv.from_values(values, environ={})
    assert (env.bucket, env.s3_prefix, env.lease_minutes, env.idle_minutes, env.max_hours) == ("b", "p/", 0.05, 0, 2)
    assert (env.poweroff_command, env.arm_shutdown_command, env.renew_seconds) == ("touch off", "echo {minutes}", 0.2)
    assert (env.push_deadline_s, env.endpoint_url, env.access_key_id, env.secret_access_key) == (
        9.0, "http://localhost:5000", "k", "s",
    )  # fmt: skip
    assert env.imds_disabled is True


def test_imds_settings_fall_back_to_the_process_environment() -> None:
    env = AgentEnv.from_values(MINIMAL, environ={"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9"})
    assert env.imds_endpoint == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"WB_ROW_PK": ""}, "WB_ROW_PK"),
        ({"WB_TABLE": ""}, "WB_TABLE"),
        ({"WB_ROW_PK": "OWNER#x"}, "WB_ROW_PK"),
        ({"WB_INSTANCE_ARN": schema.instance_arn("eu-west-1", "1", "i-other")}, "WB_INSTANCE_ARN"),
        ({"WB_LEASE_MINUTES": "0"}, "WB_LEASE_MINUTES"),
        ({"WB_RENEW_SECONDS": "fast"}, "WB_RENEW_SECONDS"),
        ({"WB_IDLE_MINUTES": "-1"}, "WB_IDLE_MINUTES"),
        ({"WB_IDLE_MINUTES": "inf"}, "WB_IDLE_MINUTES"),
        ({"WB_LEASE_MINUTES": "nan"}, "WB_LEASE_MINUTES"),
        ({"WB_MAX_HOURS": "1e400"}, "WB_MAX_HOURS"),
        ({"WB_MAX_HOURS": "100000"}, "WB_MAX_HOURS"),
    ],
)
def test_bad_values_name_the_key(changes: dict[str, str], key: str) -> None:
    with pytest.raises(AgentEnvError) as caught:
        AgentEnv.from_values({**MINIMAL, **changes}, environ={})
    assert caught.value.key == key and key in str(caught.value)


def test_load_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AgentEnvError, match=r"no .*agent\.env: this machine is not supervised"):
        AgentEnv.load(str(tmp_path / "agent.env"))
    (tmp_path / "agent.env").write_text(render(MINIMAL))
    assert AgentEnv.load(str(tmp_path / "agent.env")).table == "t"


def test_the_power_commands_are_exactly_what_user_data_grants_and_never_shutdown() -> None:
    # The agent (stdlib only) cannot import the client: the two sides are held equal here.
    assert userdata_power.agent_poweroff_command() == DEFAULT_POWEROFF_COMMAND
    assert userdata_power.agent_arm_command() == DEFAULT_ARM_SHUTDOWN_COMMAND
    for command in (DEFAULT_POWEROFF_COMMAND, DEFAULT_ARM_SHUTDOWN_COMMAND):
        assert command.startswith(f"sudo -n {userdata_power.POWER_TOOL} ")  # -n: fail, never prompt
        assert "shutdown" not in command  # logind's /run/nologin would lock every login out
    assert arm_command(DEFAULT_ARM_SHUTDOWN_COMMAND, 125) == "sudo -n /opt/wb/bin/wb-power arm 125"
    assert arm_command("sudo shutdown -h +{minutes}", 125) == "sudo shutdown -h +3"  # an older agent.env
