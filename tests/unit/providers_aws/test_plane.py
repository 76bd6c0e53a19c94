"""Supervision settings: the project's when it sets them, else the stack's; maxHours never past the cap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from weatherballoon.cli.aws_account.stack import StackInfo
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


def plane_of(loaded: LoadedConfig, **outputs: str) -> ControlPlane:
    plane = ControlPlane(loaded.config, loaded)
    stack = StackInfo(name="weatherballoon", stack_id="id", status="CREATE_COMPLETE", outputs=outputs)
    plane.__dict__["stack"] = stack  # as if DescribeStacks had answered
    return plane


def test_dir_storage_must_be_a_bare_bucket(tmp_path: Path) -> None:
    loaded = project(tmp_path, {}, dirStorage="s3://my-bucket/")
    assert plane_of(loaded, BucketName="wb-own", GrantedExtraBucket="my-bucket").bucket == "my-bucket"
    loaded = project(tmp_path, {}, dirStorage="my-bucket/runs")
    with pytest.raises(ConfigError, match=r"sync\.dirStorage: 'my-bucket/runs' has a prefix"):
        _ = plane_of(loaded, BucketName="wb-own", GrantedExtraBucket="my-bucket").bucket


def test_without_dir_storage_outputs_go_to_the_stacks_bucket(tmp_path: Path) -> None:
    loaded = project(tmp_path, {})
    assert plane_of(loaded, BucketName="wb-own", GrantedExtraBucket="").bucket == "wb-own"


def test_dir_storage_naming_a_bucket_the_stack_does_not_grant_is_refused(tmp_path: Path) -> None:
    """Instances could not push there (their role grants only the stack's buckets): refuse before launching."""
    loaded = project(tmp_path, {}, dirStorage="s3://team-results")
    for outputs in ({"BucketName": "wb-own", "GrantedExtraBucket": ""}, {"BucketName": "wb-own"}):
        with pytest.raises(ConfigError, match=r"bucket 'team-results' is not one the supervision stack grants") as e:
            _ = plane_of(loaded, **outputs).bucket
        assert e.value.hint is not None and "wb bootstrap --extra-output-bucket team-results" in e.value.hint
    other = plane_of(loaded, BucketName="wb-own", GrantedExtraBucket="another")
    with pytest.raises(ConfigError, match=r"grants another, wb-own"):
        _ = other.bucket
    assert plane_of(loaded, BucketName="team-results").bucket == "team-results"  # naming the stack's own: fine


def test_a_root_volume_above_the_stacks_limit_is_refused_before_launching(tmp_path: Path) -> None:
    loaded = project(tmp_path, {})
    plane = plane_of(loaded, BucketName="wb-own", MaxLaunchVolumeGiB="500")
    plane.check_root_volume(500)
    with pytest.raises(ConfigError, match="a 501 GiB root volume is above this stack's limit of 500 GiB"):
        plane.check_root_volume(501)
    plane_of(loaded, BucketName="wb-own").check_root_volume(10_000)  # an older stack does not say: EC2 decides


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
