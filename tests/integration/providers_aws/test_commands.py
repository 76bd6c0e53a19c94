"""`wb status`, `wb down` and `wb pull` through the aws provider (in process, through `run_cli`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pytest
from weatherballoon.cli.jobs import index
from weatherballoon.cli.main import run_cli
from weatherballoon.cli.providers.aws import keys
from weatherballoon.cli.providers.records import InstanceSpec

from tests.integration.providers_aws.conftest import ACCOUNT, ME, REGION, BootEmulator, World, instance_row

SPEC = InstanceSpec(instance_type="g5.xlarge")


def wb(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run_cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def in_project(world: World, monkeypatch: pytest.MonkeyPatch) -> Path:
    loaded = world.project()
    monkeypatch.chdir(loaded.local_root)
    return loaded.local_root


def test_status_shows_mine_with_lease_cost_and_reason_and_down_ends_them(
    world: World, booting: BootEmulator, in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = world.provider().acquire(SPEC).instance
    second = world.provider().acquire(InstanceSpec(instance_type="g5.xlarge", fresh=True)).instance
    code, out, _ = wb(capsys, "status", "--json")
    assert code == 0
    shown = {item["id"]: item for item in json.loads(out)}
    assert {first.id, second.id} <= set(shown)
    mine = shown[first.id]
    assert mine["owner"] == ME and mine["instance_type"] == "g5.xlarge" and mine["state"] == "busy"
    assert mine["lease_until"] > mine["launched_at"] and mine["est_cost_usd"] >= 0 and mine["reap_reason"] is None

    code, out, _ = wb(capsys, "status")
    assert code == 0 and first.id in out and "LEASE LEFT" in out

    code, _, err = wb(capsys, "down", first.id, "--yes")
    assert code == 0 and f"terminating {first.id}" in err
    state = boto3.client("ec2").describe_instances(InstanceIds=[first.id])["Reservations"][0]["Instances"][0]["State"]
    assert state["Name"] in ("shutting-down", "terminated")
    assert instance_row(world.deployed, first.id)["mark"] == f"down by {ME}"
    assert not keys.ephemeral_path(first.id).exists()
    code, out, _ = wb(capsys, "status", "--json")
    gone = {item["id"]: item for item in json.loads(out)}[first.id]
    assert gone["reap_reason"] == f"marked: down by {ME}" and gone["lease_until"] is None

    code, _, err = wb(capsys, "down", "--all")  # stdin is not a terminal: --all wants --yes
    assert code == 2 and "pass --yes" in err and second.id in err
    code, _, err = wb(capsys, "down", "--all", "--yes")
    assert code == 0 and f"terminating {second.id}" in err and first.id not in err
    code, _, err = wb(capsys, "down")
    assert code == 2 and "or pass --all" in err
    code, _, err = wb(capsys, "down", "i-0000000000000000f", "--yes")
    assert code == 2 and "no wb instance 'i-0000000000000000f'" in err


def test_pull_fetches_a_gone_instances_outputs_from_s3(
    world: World, booting: BootEmulator, in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    provider = world.provider()
    instance = provider.acquire(SPEC).instance
    record = index.LocalJob(
        id="20261124-120000-0a0b0c",
        provider="aws",
        instance_id=instance.id,
        target=instance.target,
        remote_root="~/wb/proj",
        command=("python", "train.py"),
        outputs=("out/**",),
        local_root=str(in_project),
    )
    index.save(record)
    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance.id}"
    prefix = f"{ME}/{arn}/{record.id}/"
    s3 = boto3.client("s3")
    bucket = world.deployed.bucket
    s3.put_object(Bucket=bucket, Key=prefix + "out/model.pt", Body=b"weights")
    s3.put_object(
        Bucket=bucket,
        Key=prefix + "out/run/log.txt",
        Body=b"log\n",
        Metadata={"wb-mode": "600", "wb-mtime-ns": "1700000000123456789"},
    )
    s3.put_object(Bucket=bucket, Key=prefix + "scratch/tmp.bin", Body=b"not an output")
    s3.put_object(Bucket=bucket, Key=f"{ME}/{arn}/another-job/out/x", Body=b"another job")
    assert run_cli(["-q", "down", instance.id, "--yes"]) == 0

    code, _, err = wb(capsys, "pull", record.id)
    assert code == 0, err
    assert (in_project / "out/model.pt").read_bytes() == b"weights"
    log = in_project / "out/run/log.txt"
    assert log.read_bytes() == b"log\n" and oct(log.stat().st_mode & 0o777) == "0o600"
    assert log.stat().st_mtime_ns == 1700000000123456789
    assert not (in_project / "scratch").exists() and not (in_project / "out/x").exists()
    assert "pulled 2 files (11 bytes)" in err

    summary = world.provider().pull_from_storage(record, ["out/**"], in_project)
    assert summary is not None and (summary.files, summary.unchanged) == (0, 2)
    assert os.environ["WB_DATA_DIR"]


@pytest.mark.parametrize("quiet", [False, True])
def test_quiet_silences_the_providers_notices(
    world: World, booting: BootEmulator, in_project: Path, capsys: pytest.CaptureFixture[str], quiet: bool
) -> None:
    """`-q` did not silence the aws provider's notices (issue 10): they bypassed the App's quiet flag."""
    from weatherballoon.cli.app import App

    capsys.readouterr()
    provider = App(quiet=quiet).provider()
    instance = provider.acquire(InstanceSpec(instance_type="g5.xlarge", fresh=True)).instance
    provider.close()
    err = capsys.readouterr().err
    assert (f"wb: launched {instance.id} (g5.xlarge" in err) is not quiet, err


def test_pull_says_when_the_agent_could_not_upload_the_outputs(
    world: World, booting: BootEmulator, in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The agent recorded a failed push on the job's row: `wb pull` from storage says so (partial outputs),
    or fails naming it (none at all), instead of reporting an empty pull as success."""
    from weatherballoon.lambdas.dynamo_store import DynamoStore
    from weatherballoon.lambdas.records import JobRow

    instance = world.provider().acquire(SPEC).instance
    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance.id}"
    store = DynamoStore(world.deployed.table, client=boto3.client("dynamodb"))
    records = []
    for job_id in ("20261124-130000-0a0b0c", "20261124-130001-0a0b0c"):
        record = index.LocalJob(
            id=job_id, provider="aws", instance_id=instance.id, target=instance.target, remote_root="~/wb/proj",
            command=("python", "train.py"), outputs=("out/**",), local_root=str(in_project),
        )  # fmt: skip
        index.save(record)
        store.put_job(JobRow(ME, arn, job_id, ("python", "train.py"), 1.0, state="exited", ended_at=2.0))
        assert store.record_push(ME, arn, job_id, 3.0, "out/b.pt: ClientError: AccessDenied (and 1 more)")
        records.append(record)
    partial, nothing = records
    boto3.client("s3").put_object(Bucket=world.deployed.bucket, Key=f"{ME}/{arn}/{partial.id}/out/a.pt", Body=b"a")
    assert run_cli(["-q", "down", instance.id, "--yes"]) == 0

    code, _, err = wb(capsys, "pull", partial.id)
    assert code == 0, err
    assert "pulled 1 files" in err and (in_project / "out/a.pt").read_bytes() == b"a"
    assert f"job {partial.id}: storage may hold only part of them" in err
    assert f"not uploaded to s3://{world.deployed.bucket}/{ME}/{arn}/{partial.id}/" in err and "AccessDenied" in err

    code, _, err = wb(capsys, "pull", nothing.id)
    assert code == 1 and "its outputs were not uploaded to" in err and "AccessDenied" in err
