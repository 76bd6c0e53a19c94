"""The shipped template deploys with plain CloudFormation (no CDK, no CDKToolkit) into a moto server.

This is the path `wb bootstrap` takes: stage the reaper zip in a bucket, create_stack with parameters,
update it, delete it.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import weatherballoon.lambdas
from weatherballoon.infra.shipped_template import load_shipped_template

STACK = "weatherballoon"
CODE_BUCKET = "wb-bootstrap-123456789012-us-west-2"


def reaper_zip() -> bytes:
    """The real lambdas package under weatherballoon/lambdas/, so the handler path resolves as deployed."""
    root = Path(weatherballoon.lambdas.__file__).parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, f"weatherballoon/lambdas/{path.relative_to(root).as_posix()}")
    return buffer.getvalue()


def outputs(cloudformation: Any) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}


@pytest.fixture
def clients(moto_endpoint: str) -> Iterator[dict[str, Any]]:
    yield {
        "cloudformation": boto3.client("cloudformation"),
        "s3": boto3.client("s3"),
        "ec2": boto3.client("ec2"),
        "dynamodb": boto3.client("dynamodb"),
        "lambda": boto3.client("lambda"),
        "events": boto3.client("events"),
        "iam": boto3.client("iam"),
    }


@pytest.fixture
def parameters(clients: dict[str, Any]) -> dict[str, str]:
    s3 = clients["s3"]
    s3.create_bucket(Bucket=CODE_BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_object(Bucket=CODE_BUCKET, Key="reaper/v1.zip", Body=reaper_zip())
    default_vpc = clients["ec2"].describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]
    return {
        "ReaperCodeBucket": CODE_BUCKET,
        "ReaperCodeKey": "reaper/v1.zip",
        "VpcId": default_vpc["VpcId"],
        # moto knows no public layers; a real account uses the default (the public Powertools layer).
        "PowertoolsLayerVersion": "0",
        "TeamName": "ml",
        "SshIngressCidr": "203.0.113.0/24",
        "AllowedInstanceTypes": "g5.xlarge,t3.micro",
    }


def as_cfn(parameters: dict[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()]


def create(clients: dict[str, Any], parameters: dict[str, str]) -> None:
    clients["cloudformation"].create_stack(
        StackName=STACK,
        TemplateBody=json.dumps(load_shipped_template()),
        Parameters=as_cfn(parameters),
        Capabilities=["CAPABILITY_IAM"],
    )
    clients["cloudformation"].get_waiter("stack_create_complete").wait(
        StackName=STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )


def test_create_gives_a_complete_stack(clients: dict[str, Any], parameters: dict[str, str]) -> None:
    create(clients, parameters)
    values = outputs(clients["cloudformation"])
    assert set(values) >= {"TableName", "BucketName", "InstanceProfileArn", "SecurityGroupId", "WbVersion"}

    table = clients["dynamodb"].describe_table(TableName=values["TableName"])["Table"]
    assert [key["AttributeName"] for key in table["KeySchema"]] == ["pk", "sk"]
    # moto's CloudFormation does not apply TimeToLiveSpecification; tests/unit/infra/test_template.py covers it.

    function = clients["lambda"].get_function(FunctionName=values["ReaperFunctionName"])["Configuration"]
    assert function["Handler"] == "weatherballoon.lambdas.reaper.handler"
    # (moto's CloudFormation drops Architectures; the template test asserts arm64.)
    assert function["Environment"]["Variables"]["TABLE_NAME"] == values["TableName"]
    assert function["Environment"]["Variables"]["TEAM_NAME"] == "ml"

    rules = clients["events"].list_rules()["Rules"]
    assert [rule["ScheduleExpression"] for rule in rules] == ["rate(1 minute)"]

    profile_name = values["InstanceProfileArn"].rsplit("/", 1)[1]
    profile = clients["iam"].get_instance_profile(InstanceProfileName=profile_name)["InstanceProfile"]
    assert [role["Arn"] for role in profile["Roles"]] == [values["InstanceRoleArn"]]
    member = clients["iam"].get_policy(PolicyArn=values["MemberPolicyArn"])["Policy"]
    document = clients["iam"].get_policy_version(PolicyArn=member["Arn"], VersionId=member["DefaultVersionId"])
    text = json.dumps(document["PolicyVersion"]["Document"])
    assert "${aws:userid}" in text and "t3.micro" in text  # policy variables and parameters arrive intact

    # SshAccess eice (the default): port 22 only from the endpoint's group, no range at all. (moto's
    # CloudFormation makes no AWS::EC2::InstanceConnectEndpoint; the group and the rule it does make.)
    group = clients["ec2"].describe_security_groups(GroupIds=[values["SecurityGroupId"]])["SecurityGroups"][0]
    assert [(p["FromPort"], p["IpRanges"]) for p in group["IpPermissions"]] == [(22, [])]
    endpoint_group = group["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"]
    found = clients["ec2"].describe_security_groups(GroupIds=[endpoint_group])["SecurityGroups"][0]
    assert found["Description"].startswith("Weatherballoon Instance Connect Endpoint")


def test_cidr_access_opens_port_22_to_the_range_only(clients: dict[str, Any], parameters: dict[str, str]) -> None:
    create(clients, {**parameters, "SshAccess": "cidr"})
    values = outputs(clients["cloudformation"])
    group = clients["ec2"].describe_security_groups(GroupIds=[values["SecurityGroupId"]])["SecurityGroups"][0]
    assert [(p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in group["IpPermissions"]] == [(22, "203.0.113.0/24")]
    assert "TunnelEndpointId" not in values and "GivenTunnelEndpointId" not in values


def test_update_applies_new_parameters_and_code(clients: dict[str, Any], parameters: dict[str, str]) -> None:
    create(clients, parameters)
    clients["s3"].put_object(Bucket=CODE_BUCKET, Key="reaper/v2.zip", Body=reaper_zip())
    changed = {**parameters, "ReaperMode": "dry-run", "ReaperCodeKey": "reaper/v2.zip"}
    clients["cloudformation"].update_stack(
        StackName=STACK,
        TemplateBody=json.dumps(load_shipped_template()),
        Parameters=as_cfn(changed),
        Capabilities=["CAPABILITY_IAM"],
    )
    clients["cloudformation"].get_waiter("stack_update_complete").wait(
        StackName=STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    function = clients["lambda"].get_function(FunctionName=outputs(clients["cloudformation"])["ReaperFunctionName"])
    assert function["Configuration"]["Environment"]["Variables"]["MODE"] == "dry-run"


def test_delete_removes_the_stack_and_keeps_the_outputs_bucket(
    clients: dict[str, Any], parameters: dict[str, str]
) -> None:
    create(clients, parameters)
    values = outputs(clients["cloudformation"])
    clients["cloudformation"].delete_stack(StackName=STACK)
    clients["cloudformation"].get_waiter("stack_delete_complete").wait(
        StackName=STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    assert clients["dynamodb"].list_tables()["TableNames"] == []
    clients["s3"].head_bucket(Bucket=values["BucketName"])  # job outputs are user data: retained
