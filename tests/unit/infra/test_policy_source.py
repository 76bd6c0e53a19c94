"""The template resolver: intrinsics against concrete values, and which policies a role holds."""

from __future__ import annotations

from typing import Any

import pytest
from weatherballoon.infra.policy_patterns import UnsupportedPolicy
from weatherballoon.infra.policy_source import DeployedTemplate, Environment

TEMPLATE: dict[str, Any] = {
    "Parameters": {
        "Types": {"Type": "CommaDelimitedList", "Default": "t3.micro,g5.*"},
        "Layer": {"Type": "Number", "Default": 0},
        "Team": {"Type": "String"},
    },
    "Conditions": {"UseLayer": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Layer"}, "0"]}]}},
    "Resources": {
        "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {}},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [{"PolicyDocument": {"Statement": []}}]}},
        "Attached": {
            "Type": "AWS::IAM::Policy",
            "Properties": {"Roles": [{"Ref": "Role"}], "PolicyDocument": {"Statement": [{"Sid": "attached"}]}},
        },
        "Elsewhere": {
            "Type": "AWS::IAM::Policy",
            "Properties": {"Roles": ["someone-else"], "PolicyDocument": {"Statement": [{"Sid": "other"}]}},
        },
        "Managed": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": {"Statement": []}}},
    },
}


@pytest.fixture
def deployed() -> DeployedTemplate:
    return DeployedTemplate(TEMPLATE, {"Team": "ml"}, Environment(account="111122223333", region="eu-west-1"))


def test_refs_resolve_parameters_defaults_lists_and_pseudo_parameters(deployed: DeployedTemplate) -> None:
    assert deployed.resolve({"Ref": "Team"}) == "ml"
    assert deployed.resolve({"Ref": "Types"}) == ["t3.micro", "g5.*"]
    assert deployed.resolve({"Ref": "Layer"}) == "0"
    assert deployed.resolve({"Ref": "AWS::Region"}) == "eu-west-1"
    assert deployed.resolve({"Ref": "Table"}) == "weatherballoon-Table"
    assert deployed.resolve({"Ref": "Managed"}) == "arn:aws:iam::111122223333:policy/weatherballoon-Managed"


def test_a_parameter_without_value_or_default_is_an_error() -> None:
    with pytest.raises(KeyError, match="Team"):
        DeployedTemplate(TEMPLATE).resolve({"Ref": "Team"})


def test_get_att_join_and_sub_build_arns(deployed: DeployedTemplate) -> None:
    assert deployed.resolve({"Fn::GetAtt": ["Table", "Arn"]}) == (
        "arn:aws:dynamodb:eu-west-1:111122223333:table/weatherballoon-Table"
    )
    joined = {"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/${aws:userid}/*"]]}
    assert deployed.resolve(joined) == "arn:aws:s3:::weatherballoon-Bucket/${aws:userid}/*"
    substituted = {"Fn::Sub": "arn:${AWS::Partition}:x:${AWS::Region}:${Table}:${Table.Arn}:${!Literal}:${aws:userid}"}
    assert deployed.resolve(substituted) == (
        "arn:aws:x:eu-west-1:weatherballoon-Table:arn:aws:dynamodb:eu-west-1:111122223333:table/"
        "weatherballoon-Table:${Literal}:${aws:userid}"
    )
    assert deployed.resolve({"Fn::Sub": ["${a}-${Team}", {"a": {"Ref": "AWS::AccountId"}}]}) == "111122223333-ml"


def test_conditions_choose_a_branch_and_no_value_disappears(deployed: DeployedTemplate) -> None:
    layers = {"Layers": {"Fn::If": ["UseLayer", ["arn:layer"], {"Ref": "AWS::NoValue"}]}, "Keep": 1}
    assert deployed.resolve(layers) == {"Keep": 1}
    with_layer = DeployedTemplate(TEMPLATE, {"Team": "ml", "Layer": "27"})
    assert with_layer.resolve(layers) == {"Layers": ["arn:layer"], "Keep": 1}
    assert deployed.resolve([{"Ref": "AWS::NoValue"}, "x"]) == ["x"]


def test_select_and_split(deployed: DeployedTemplate) -> None:
    assert deployed.resolve({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}) == "b"


def test_role_policies_are_inline_plus_attached_to_that_role_only(deployed: DeployedTemplate) -> None:
    sids = [statement.get("Sid") for document in deployed.role_policies("Role") for statement in document["Statement"]]
    assert sids == ["attached"]
    assert len(deployed.role_policies("Role")) == 2


def test_unknown_intrinsics_and_attributes_are_refused(deployed: DeployedTemplate) -> None:
    with pytest.raises(UnsupportedPolicy):
        deployed.resolve({"Fn::ImportValue": "x"})
    with pytest.raises(UnsupportedPolicy):
        deployed.resolve({"Fn::GetAtt": ["Table", "StreamArn"]})
