"""The run's `wb` clients get a config of their own, valid under wb's schema, and none of the user's WB_*
settings (which would override it), so a first-contact run never uses or touches the user's project."""

from __future__ import annotations

from pathlib import Path

import pytest
from weatherballoon.cli.aws_account.first_contact.clients import ClientSettings, Workspace
from weatherballoon.cli.config.model import WbConfig
from weatherballoon.cli.config.schema import WbConfigSchema

SETTINGS = ClientSettings(
    region="us-east-2",
    stack="wb-doctor-abc123",
    instance_type="t3.micro",
    connect="public-ip",
    username="ubuntu",
    root_volume_gb=75,
    lease_minutes=1.0,
    idle_minutes=1.0,
    max_hours=0.7,
)


def test_the_config_is_valid_and_names_the_runs_stack_and_machine() -> None:
    config = WbConfig.from_dump(WbConfigSchema.model_validate(SETTINGS.document()).model_dump())
    p, s = config.provisioner, config.supervision
    assert (p.kind, p.stack, p.instance_type, p.spot, p.root_volume_gb) == (
        "aws",
        SETTINGS.stack,
        "t3.micro",
        False,
        75,
    )
    assert (s.lease_minutes, s.idle_minutes, s.max_hours) == (1, 1, 0.7)


def test_the_clients_environment_drops_the_users_wb_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "WB_LEASE_MINUTES": "30",
        "WB_STACK": "weatherballoon",
        "WB_DEBUG": "1",
        "AWS_PROFILE": "x",
    }.items():
        monkeypatch.setenv(key, value)
    workspace = Workspace(tmp_path, "wb-doctor-abc123", SETTINGS)
    workspace.create()
    env = workspace.env()
    assert "WB_LEASE_MINUTES" not in env and "WB_STACK" not in env
    assert env["WB_DEBUG"] == "1" and env["AWS_PROFILE"] == "x"
    assert env["WB_CONFIG"] == str(workspace.config_file) and env["WB_DATA_DIR"] == str(workspace.data_dir)
    assert workspace.project.name == "wb-doctor-abc123" and workspace.data_dir.stat().st_mode & 0o077 == 0
    assert not workspace.data_dir.is_relative_to(workspace.project)  # the keys are never synced
    workspace.remove_private_state()
    assert not workspace.data_dir.exists() and not workspace.project.exists() and workspace.logs.exists()
