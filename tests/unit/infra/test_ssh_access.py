"""How port 22 of wb instances is reached, per `SshAccess` (infra/network.py), read off the shipped template as
each deployment resolves it: in `eice` mode no security group admits a CIDR to port 22, only the endpoint's
group; the stack's endpoint group sends only to port 22 of wb instances; `cidr` mode is the explicit opt-in."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from weatherballoon.infra.policy_source import DeployedTemplate
from weatherballoon.infra.shipped_template import load_shipped_template

from tests.unit.infra.iam_world import ENV, PARAMETERS

GIVEN = {
    "InstanceConnectEndpointId": "eice-0fedcba9876543210",
    "InstanceConnectEndpointSecurityGroupId": "sg-0aaaabbbbccccdddd",
}
EICE_DEPLOYMENTS = {
    "stack's own endpoint": {**PARAMETERS, "InstanceConnectSubnetId": "subnet-0123456789abcdef0"},
    "given endpoint": {**PARAMETERS, **GIVEN},
}
SSH = 22


def existing(template: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """logical id -> resolved resource, for the resources this deployment creates."""
    deployed = DeployedTemplate(template, parameters, ENV)
    made = {}
    for name, body in template["Resources"].items():
        condition = body.get("Condition")
        if condition is None or deployed.resolve({"Condition": condition}):
            made[name] = {"Type": body["Type"], "Properties": deployed.resolve(body.get("Properties", {}))}
    return made


def ssh_ingress(resources: Mapping[str, dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every ingress rule that covers TCP port 22: inline in a group, or a SecurityGroupIngress resource."""
    for name, resource in resources.items():
        if resource["Type"] == "AWS::EC2::SecurityGroup":
            rules = resource["Properties"].get("SecurityGroupIngress", [])
        elif resource["Type"] == "AWS::EC2::SecurityGroupIngress":
            rules = [resource["Properties"]]
        else:
            continue
        for rule in rules:
            protocol = str(rule.get("IpProtocol"))
            low, high = int(rule.get("FromPort", -1)), int(rule.get("ToPort", -1))
            if protocol == "-1" or (protocol in ("tcp", "6") and (low == -1 or low <= SSH <= high)):
                yield name, rule


@pytest.mark.parametrize("parameters", EICE_DEPLOYMENTS.values(), ids=list(EICE_DEPLOYMENTS))
def test_in_eice_mode_no_group_admits_a_cidr_to_port_22(parameters: Mapping[str, Any]) -> None:
    template = load_shipped_template()
    assert template["Parameters"]["SshAccess"]["Default"] == "eice"
    resources = existing(template, parameters)
    rules = list(ssh_ingress(resources))
    assert rules, "port 22 must be reachable through the endpoint"
    for _name, rule in rules:
        assert not {"CidrIp", "CidrIpv6", "SourcePrefixListId"} & set(rule), rule
        assert rule["SourceSecurityGroupId"].startswith("sg-"), rule


def test_the_stacks_endpoint_group_is_the_only_source_and_sends_only_to_wb_instances() -> None:
    template = load_shipped_template()
    resources = existing(template, EICE_DEPLOYMENTS["stack's own endpoint"])
    assert len(resources["InstanceConnectEndpoint"]["Properties"]["SecurityGroupIds"]) == 1
    endpoint_group = resources["InstanceConnectEndpointSecurityGroup"]["Properties"]
    instance_group_id = DeployedTemplate(template, EICE_DEPLOYMENTS["stack's own endpoint"], ENV).resolve(
        {"Fn::GetAtt": ["InstanceSecurityGroup", "GroupId"]}
    )
    assert endpoint_group.get("SecurityGroupIngress", []) == []
    assert [
        (rule["IpProtocol"], rule["FromPort"], rule["ToPort"], rule["DestinationSecurityGroupId"])
        for rule in endpoint_group["SecurityGroupEgress"]
    ] == [("tcp", SSH, SSH, instance_group_id)]
    sources = {rule["SourceSecurityGroupId"] for _, rule in ssh_ingress(resources)}
    assert sources == set(resources["InstanceConnectEndpoint"]["Properties"]["SecurityGroupIds"])
    assert resources["InstanceConnectEndpoint"]["Properties"]["PreserveClientIp"] is False


def test_a_given_endpoint_brings_its_own_group_and_the_stack_makes_none() -> None:
    resources = existing(load_shipped_template(), EICE_DEPLOYMENTS["given endpoint"])
    assert "InstanceConnectEndpoint" not in resources and "InstanceConnectEndpointSecurityGroup" not in resources
    assert [rule["SourceSecurityGroupId"] for _, rule in ssh_ingress(resources)] == [
        GIVEN["InstanceConnectEndpointSecurityGroupId"]
    ]


def test_cidr_mode_is_the_explicit_opt_in_for_a_range() -> None:
    resources = existing(
        load_shipped_template(), {**PARAMETERS, "SshAccess": "cidr", "SshIngressCidr": "203.0.113.0/24"}
    )
    assert "InstanceConnectEndpoint" not in resources
    assert [rule.get("CidrIp") for _, rule in ssh_ingress(resources)] == ["203.0.113.0/24"]
