"""`wb ssh` with no INSTANCE on the aws provider: the one machine of mine that is up, never a launch unasked
(docs/cli.md, "wb ssh")."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from weatherballoon.cli.commands.ssh import _pick
from weatherballoon.cli.main import run_cli
from weatherballoon.cli.providers.records import InstanceSpec

from tests.integration.providers_aws.conftest import BootEmulator, World

SPEC = InstanceSpec(instance_type="g5.xlarge", fresh=True)


def live_instances() -> list[str]:
    reservations = boto3.client("ec2").describe_instances()["Reservations"]
    return sorted(i["InstanceId"] for r in reservations for i in r["Instances"] if i["State"]["Name"] != "terminated")


@pytest.fixture
def in_project(world: World, monkeypatch: pytest.MonkeyPatch) -> Path:
    loaded = world.project()
    monkeypatch.chdir(loaded.local_root)
    return loaded.local_root


def test_with_no_machine_up_it_launches_nothing_and_says_how_to(
    world: World, in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = live_instances()
    capsys.readouterr()
    code = run_cli(["ssh", "--", "true"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "no machine of yours is up, and `wb ssh` launches none unasked" in err
    assert "wb ssh --launch" in err
    assert live_instances() == before


def test_several_machines_up_are_named_rather_than_one_picked(
    world: World, booting: BootEmulator, in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = world.provider().acquire(SPEC).instance
    second = world.provider().acquire(SPEC).instance
    capsys.readouterr()
    code = run_cli(["ssh", "--", "true"])  # stdin is not a terminal here: nobody to ask
    err = capsys.readouterr().err
    assert code == 2, err
    assert "2 machines of yours are up" in err and first.id in err and second.id in err
    assert "wb ssh INSTANCE" in err


def test_the_only_machine_up_is_the_one_attached_to_and_launch_takes_one_when_none_is(
    world: World, booting: BootEmulator
) -> None:
    provider = world.provider()
    launched = _pick(provider, launch=True)  # none up: --launch takes one as `wb run` would
    assert launched.id in live_instances()
    assert _pick(world.provider(), launch=False).id == launched.id
    assert live_instances() == [launched.id]
