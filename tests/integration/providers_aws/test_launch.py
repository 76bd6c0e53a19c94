"""Launching: what RunInstances carries, the row written at launch, the wait for the host key."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import boto3
import pytest
from weatherballoon.cli.errors import ConfigError, ProvisionError, UsageError
from weatherballoon.cli.providers.aws import keys, userdata
from weatherballoon.cli.providers.records import InstanceSpec

from tests.integration.providers_aws.conftest import DEFAULT_VPC, ME, BootEmulator, World, instance_row


def _describe(instance_id: str) -> dict:
    return boto3.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def test_launch_carries_tags_imds_shutdown_profile_group_volume_and_user_data(
    world: World, booting: BootEmulator
) -> None:
    loaded = world.project(rootVolumeGb=150)
    provider = world.provider(loaded)
    instance = provider.acquire(InstanceSpec(instance_type="g5.xlarge")).instance
    stack = world.deployed.stack.outputs
    raw = _describe(instance.id)
    tags = {t["Key"]: t["Value"] for t in raw["Tags"]}
    assert tags == {"wb:managed": "true", "wb:owner": ME, "wb:team": "default", "wb:project": "proj", "Name": "wb-test"}
    assert raw["MetadataOptions"]["HttpTokens"] == "required"
    assert raw["MetadataOptions"]["InstanceMetadataTags"] == "enabled"
    assert raw["IamInstanceProfile"]["Arn"] == stack["InstanceProfileArn"]
    (interface,) = raw["NetworkInterfaces"]
    assert [g["GroupId"] for g in interface["Groups"]] == [stack["SecurityGroupId"]]
    assert raw["InstanceType"] == "g5.xlarge" and raw["ImageId"] == "ami-dca37ea5"  # moto's DLAMI (Ubuntu)
    ec2 = boto3.client("ec2")
    behaviour = ec2.describe_instance_attribute(InstanceId=instance.id, Attribute="instanceInitiatedShutdownBehavior")
    assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
    volumes = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance.id]}])["Volumes"]
    assert [v["Size"] for v in volumes] == [150]
    assert {t["Key"]: t["Value"] for t in volumes[0].get("Tags", [])}["wb:owner"] == ME

    answer = ec2.describe_instance_attribute(InstanceId=instance.id, Attribute="userData")
    packed = base64.b64decode(answer["UserData"]["Value"])
    assert packed[:2] == b"\x1f\x8b"  # gzip: cloud-init unpacks it
    script = booting.user_data[instance.id]
    assert userdata.unpack(packed) == script
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert lines[1].startswith("# wb:authorized-key ssh-ed25519 ") and lines[2] == "# wb:user ubuntu"
    assert f"# wb:table {world.deployed.table}" in lines and f"# wb:bucket {world.deployed.bucket}" in lines
    assert "# wb:lease-minutes 5" in lines and "/opt/wb/bin/wb-power arm 360 " in script
    assert userdata.boot_source_in(script) == userdata.boot_program()  # verbatim remote/boot.py
    assert "ExecStart=/opt/wb/venv/bin/python -I $WB_HOME/.weatherballoon/agent/current daemon --foreground" in script

    key_path = keys.ephemeral_path(instance.id)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert lines[1].split()[4] == keys.COMMENT
    assert instance.target.host == raw["PrivateIpAddress"]  # connect: private-ip
    assert instance.target.host_key_fingerprint == booting.fingerprint
    assert provider.connect_options(instance).identity_file == str(key_path)

    row = instance_row(world.deployed, instance.id)
    assert row["state"] == "busy" and row["market"] == "on-demand" and float(row["price_usd_hour"]) == 1.006
    assert row["host_key_fingerprint"] == booting.fingerprint
    assert float(row["max_until"]) - float(row["launched_at"]) == pytest.approx(24 * 3600)
    assert float(row["lease_until"]) > float(row["launched_at"]) + 4 * 60
    assert row["project"] == "proj" and len(row["spec_hash"]) == 16
    assert booting.result(instance.id)["host_key_fingerprint"] == booting.fingerprint
    assert any(m.startswith(f"launched {instance.id} (g5.xlarge, on-demand, us-west-2") for m in world.messages)


def test_unknown_type_suggests_near_names_and_launches_nothing(world: World) -> None:
    with pytest.raises(UsageError, match=r"no instance type 'g5.xlarg'; did you mean g5.xlarge"):
        world.provider().acquire(InstanceSpec(instance_type="g5.xlarg"))
    with pytest.raises(UsageError, match=r"does not allow p4d.24xlarge; allowed: g4dn.xlarge"):
        world.provider().acquire(InstanceSpec(instance_type="p4d.24xlarge"))
    assert _live() == []


def test_configured_ami_is_used_and_a_missing_one_is_a_config_error(world: World, booting: BootEmulator) -> None:
    other = boto3.client("ec2").describe_images(Owners=["099720109477"])["Images"][0]["ImageId"]
    provider = world.provider(world.project(os={"ami": other}))
    instance = provider.acquire(InstanceSpec(instance_type="g5.xlarge")).instance
    assert _describe(instance.id)["ImageId"] == other
    with pytest.raises(ConfigError, match=r"provisioner.os.ami: no AMI 'ami-00000000' in this region"):
        world.provider(world.project("p2", os={"ami": "ami-00000000"})).acquire(InstanceSpec(instance_type="g5.xlarge"))


def test_an_instance_that_never_registers_its_host_key_is_terminated(world: World) -> None:
    provider = world.provider(boot_timeout_s=1.5)
    with pytest.raises(ProvisionError, match=r"did not register its SSH host key within 1.5s") as caught:
        provider.acquire(InstanceSpec(instance_type="g5.xlarge"))
    assert caught.value.exit_code == 255
    (instance_id,) = [i["InstanceId"] for i in _all() if i["State"]["Name"] in ("shutting-down", "terminated")][-1:]
    assert instance_row(world.deployed, instance_id)["mark"].startswith("launch abandoned")
    assert not keys.ephemeral_path(instance_id).exists()


def _all() -> list[dict]:
    answer = boto3.client("ec2").describe_instances()
    return sorted((i for r in answer["Reservations"] for i in r["Instances"]), key=lambda i: i["LaunchTime"])


def _live() -> list[str]:
    return [i["InstanceId"] for i in _all() if i["State"]["Name"] in ("pending", "running")]


def test_seed_settings_group_by_name_profile_by_name_and_an_ec2_key_pair(
    world: World, booting: BootEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ec2 = boto3.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    group = ec2.create_security_group(GroupName="sg_temp1", Description="seed", VpcId=vpc)["GroupId"]
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": DEFAULT_VPC}]}
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh])  # the seed's group admits SSH
    iam = boto3.client("iam")
    iam.create_instance_profile(InstanceProfileName="seed-profile")
    ec2.create_key_pair(KeyName="id_seed")
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_seed").write_text("private key")
    loaded = world.project("seed", group1="sg_temp1", roleOfInstance="seed-profile", keyPair="id_seed")
    provider = world.provider(loaded)
    try:
        instance = provider.acquire(InstanceSpec(instance_type="g5.xlarge")).instance
        raw = _describe(instance.id)
        assert [g["GroupId"] for g in raw["NetworkInterfaces"][0]["Groups"]] == [group]
        assert raw["IamInstanceProfile"]["Arn"].endswith("instance-profile/seed-profile")
        assert raw["KeyName"] == "id_seed"
        assert "# wb:authorized-key" not in booting.user_data[instance.id]
        assert not keys.ephemeral_path(instance.id).exists()
        assert provider.connect_options(instance).identity_file == str(tmp_path / ".ssh" / "id_seed")
        assert instance_row(world.deployed, instance.id)["ssh_key"] == "key-pair:id_seed"
    finally:
        ec2.delete_key_pair(KeyName="id_seed")
        iam.delete_instance_profile(InstanceProfileName="seed-profile")
