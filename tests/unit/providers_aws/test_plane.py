"""Supervision settings: the project's when it sets them, else the stack's; maxHours never past the cap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from weatherballoon.cli.aws.stack import StackInfo
from weatherballoon.cli.config.loader import LoadedConfig, load_config
from weatherballoon.cli.errors import ConfigError
from weatherballoon.cli.providers.aws.plane import ControlPlane, supervision_settings

STACK = StackInfo(
    name="weatherballoon",
    stack_id="id",
    status="CREATE_COMPLETE",
    outputs={"DefaultLeaseMinutes": "2", "DefaultIdleMinutes": "0", "InstanceMaxHours": "12", "WbTeam": "ml"},
)


def project(tmp_path: Path, supervision: dict[str, object], **sync: object) -> LoadedConfig:
    config = {"provisioner": {"kind": "aws"}, "supervision": supervision, "sync": sync}
    (tmp_path / ".weatherballoon.json").write_text(json.dumps(config))
    return load_config(cwd=tmp_path)


def test_stack_defaults_fill_what_the_project_leaves_out(tmp_path: Path) -> None:
    loaded = project(tmp_path, {})
    got = supervision_settings(loaded.config, loaded, STACK)
    assert (got.lease_minutes, got.idle_minutes, got.max_hours, got.team) == (2.0, 0.0, 12.0, "ml")


def test_the_project_wins_except_past_the_stacks_lifetime_cap(tmp_path: Path) -> None:
    loaded = project(tmp_path, {"leaseMinutes": 0.5, "idleMinutes": 3, "maxHours": 48})
    got = supervision_settings(loaded.config, loaded, STACK)
    assert (got.lease_minutes, got.idle_minutes, got.max_hours) == (0.5, 3.0, 12.0)


def test_dir_storage_must_be_a_bare_bucket(tmp_path: Path) -> None:
    loaded = project(tmp_path, {}, dirStorage="s3://my-bucket/")
    assert ControlPlane(loaded.config, loaded).bucket == "my-bucket"
    loaded = project(tmp_path, {}, dirStorage="my-bucket/runs")
    with pytest.raises(ConfigError, match=r"sync\.dirStorage: 'my-bucket/runs' has a prefix"):
        _ = ControlPlane(loaded.config, loaded).bucket


@pytest.mark.parametrize("value", ["nan", "inf", "1e400", "-1", "soon"])
def test_a_stack_output_out_of_range_is_a_clear_error(tmp_path: Path, value: str) -> None:
    """`wb bootstrap --lease-minutes nan` once deployed; every member's run then crashed (issue 9 item 7)."""
    loaded = project(tmp_path, {})
    bad = StackInfo(name="weatherballoon", stack_id="id", status="UPDATE_COMPLETE",
                    outputs={**STACK.outputs, "DefaultLeaseMinutes": value})  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        supervision_settings(loaded.config, loaded, bad)
    assert caught.value.message.startswith("stack weatherballoon: output DefaultLeaseMinutes: ")
    assert "wb bootstrap --lease-minutes" in (caught.value.hint or "")
    assert caught.value.exit_code == 2


def test_a_lifetime_cap_out_of_range_is_refused_even_when_the_project_sets_max_hours(tmp_path: Path) -> None:
    loaded = project(tmp_path, {"maxHours": 2})
    bad = StackInfo(name="weatherballoon", stack_id="id", status="UPDATE_COMPLETE",
                    outputs={**STACK.outputs, "InstanceMaxHours": "inf"})  # fmt: skip
    with pytest.raises(ConfigError, match="InstanceMaxHours"):
        supervision_settings(loaded.config, loaded, bad)
