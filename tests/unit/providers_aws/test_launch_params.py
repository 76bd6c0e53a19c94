"""RunInstances parameters (pure): what every launch carries, and what spot, a key pair and a profile name add."""

from __future__ import annotations

import dataclasses

from weatherballoon.cli.providers.aws.capacity import Attempt
from weatherballoon.cli.providers.aws.launch import LaunchPlan, run_instances_params
from weatherballoon.lambdas.records import Market
from weatherballoon.lambdas.tags import wb_tags

PLAN = LaunchPlan(
    instance_type="g5.xlarge",
    image_id="ami-1",
    root_device_name="/dev/sda1",
    root_volume_gb=120,
    group_id="sg-1",
    subnets={"us-west-2a": "subnet-a", "us-west-2b": "subnet-b"},
    instance_profile="arn:aws:iam::123456789012:instance-profile/wb",
    user_data="#!/bin/bash\n",
    labels=wb_tags("AIDAME", "default", "proj", name="weatherballoon"),
)


def test_every_launch_carries_tags_imdsv2_terminate_profile_volume_and_one_subnet() -> None:
    params = run_instances_params(PLAN, Attempt(Market.ON_DEMAND, "us-west-2b"), "tok")
    assert params["ClientToken"] == "tok" and params["MinCount"] == params["MaxCount"] == 1
    assert params["InstanceInitiatedShutdownBehavior"] == "terminate"
    assert params["MetadataOptions"] == {
        "HttpTokens": "required",
        "HttpEndpoint": "enabled",
        "InstanceMetadataTags": "enabled",
    }
    assert [spec["ResourceType"] for spec in params["TagSpecifications"]] == ["instance", "volume"]
    assert {t["Key"] for t in params["TagSpecifications"][0]["Tags"]} == {
        "wb:managed", "wb:owner", "wb:team", "wb:project", "Name"
    }  # fmt: skip
    assert params["IamInstanceProfile"] == {"Arn": PLAN.instance_profile}
    assert params["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 120
    (interface,) = params["NetworkInterfaces"]
    assert (
        interface["SubnetId"] == "subnet-b"
        and interface["Groups"] == ["sg-1"]
        and interface["AssociatePublicIpAddress"]
    )
    assert "InstanceMarketOptions" not in params and "KeyName" not in params


def test_spot_key_pair_and_profile_name() -> None:
    plan = dataclasses.replace(PLAN, key_name="id_seed", instance_profile="wb-profile", public_ip=False)
    params = run_instances_params(plan, Attempt(Market.SPOT, "us-west-2a"), "tok")
    assert params["InstanceMarketOptions"]["MarketType"] == "spot"
    assert params["InstanceMarketOptions"]["SpotOptions"]["InstanceInterruptionBehavior"] == "terminate"
    assert params["KeyName"] == "id_seed" and params["IamInstanceProfile"] == {"Name": "wb-profile"}
    assert params["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is False
