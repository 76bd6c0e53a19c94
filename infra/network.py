"""The security group wb instances launch into, and how SSH reaches them (the `SshAccess` parameter):

- `eice` (the default): through an EC2 Instance Connect Endpoint in the VPC, the stack's own (created in
  `InstanceConnectSubnetId`) or an admin's (`InstanceConnectEndpointId` and its group). Port 22 admits only the
  endpoint's security group, never a CIDR, and the stack's endpoint group may send only to port 22 of wb
  instances: a tunnel through it reaches no other machine.
- `cidr`: port 22 from `SshIngressCidr` (an explicit opt-in for `provisioner.connect` public-ip/private-ip).

Either way anything goes out (AWS APIs, package mirrors, data sets).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from constructs import Construct
from weatherballoon.infra.parameters import StackParameters
from weatherballoon.lambdas import tags

SSH_PORT = 22


def _default_never_used(resource: cdk.CfnResource) -> None:
    """cfn-lint checks a parameter's default ("": none given) against the id format of each property it
    fills (W1030). These resources exist only under the condition that the parameter is set, when bootstrap
    has set it to an id (or created the endpoint whose subnet it names)."""
    resource.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W1030"]}})


class InstanceSecurityGroup(Construct):
    """L1 resources: the VPC and the access mode are deploy-time parameters, so there is nothing to look up."""

    def __init__(self, scope: Construct, construct_id: str, *, parameters: StackParameters) -> None:
        super().__init__(scope, construct_id)
        vpc_id = parameters.vpc_id.value_as_string
        self.group = ec2.CfnSecurityGroup(
            self,
            "Group",
            group_description="Weatherballoon instances: SSH from the Instance Connect Endpoint or the chosen range",
            vpc_id=vpc_id,
            security_group_egress=[
                ec2.CfnSecurityGroup.EgressProperty(
                    ip_protocol="-1",
                    cidr_ip="0.0.0.0/0",
                    description="AWS APIs, package mirrors and data sets the job needs",
                )
            ],
        )
        self.group.override_logical_id("InstanceSecurityGroup")

        stack = cdk.Stack.of(self)
        access = parameters.ssh_access.value_as_string
        from_cidr = cdk.CfnCondition(stack, "SshFromCidr", expression=cdk.Fn.condition_equals(access, "cidr"))
        self.creates_endpoint = cdk.CfnCondition(
            stack,
            "CreatesEndpoint",
            expression=cdk.Fn.condition_and(
                cdk.Fn.condition_equals(access, "eice"),
                cdk.Fn.condition_equals(parameters.endpoint_id.value_as_string, ""),
            ),
        )

        endpoint_group = ec2.CfnSecurityGroup(
            self,
            "EndpointGroup",
            group_description="Weatherballoon Instance Connect Endpoint: SSH to wb instances only",
            vpc_id=vpc_id,
            security_group_egress=[
                ec2.CfnSecurityGroup.EgressProperty(
                    ip_protocol="tcp",
                    from_port=SSH_PORT,
                    to_port=SSH_PORT,
                    destination_security_group_id=self.group.attr_group_id,
                    description="SSH to wb instances",
                )
            ],
        )
        endpoint_group.override_logical_id("InstanceConnectEndpointSecurityGroup")
        endpoint_group.cfn_options.condition = self.creates_endpoint

        endpoint = ec2.CfnInstanceConnectEndpoint(
            self,
            "Endpoint",
            subnet_id=parameters.endpoint_subnet_id.value_as_string,
            security_group_ids=[endpoint_group.attr_group_id],
            preserve_client_ip=False,  # the instance sees the endpoint's address, which its group admits
            tags=[cdk.CfnTag(key=tags.MANAGED, value=tags.MANAGED_VALUE)],
        )
        endpoint.override_logical_id("InstanceConnectEndpoint")
        endpoint.cfn_options.condition = self.creates_endpoint
        _default_never_used(endpoint)

        reuses_endpoint = cdk.CfnCondition(
            stack,
            "ReusesEndpoint",
            expression=cdk.Fn.condition_and(
                cdk.Fn.condition_equals(access, "eice"),
                cdk.Fn.condition_not(cdk.Fn.condition_equals(parameters.endpoint_id.value_as_string, "")),
            ),
        )
        # The endpoint clients tunnel through, as two outputs of which at most one exists (an output that
        # picked between them with Fn::If would refer to a resource that may not exist: W1001).
        self.endpoint_id = cdk.Fn.condition_if(
            self.creates_endpoint.logical_id,
            endpoint.ref,
            cdk.Fn.condition_if(reuses_endpoint.logical_id, parameters.endpoint_id.value_as_string, "none"),
        ).to_string()
        cdk.CfnOutput(stack, "TunnelEndpointId", value=endpoint.ref, condition=self.creates_endpoint)
        cdk.CfnOutput(
            stack,
            "GivenTunnelEndpointId",
            value=parameters.endpoint_id.value_as_string,
            condition=reuses_endpoint,
        )
        self._ssh_from("SshFromEndpoint", endpoint_group.attr_group_id, "SshFromEndpointIngress", self.creates_endpoint)
        self._ssh_from(
            "SshFromGivenEndpoint",
            parameters.endpoint_security_group_id.value_as_string,
            "SshFromGivenEndpointIngress",
            reuses_endpoint,
        )

        via_cidr = ec2.CfnSecurityGroupIngress(
            self,
            "SshFromCidr",
            group_id=self.group.attr_group_id,
            ip_protocol="tcp",
            from_port=SSH_PORT,
            to_port=SSH_PORT,
            cidr_ip=parameters.ssh_ingress_cidr.value_as_string,
            description="SSH from SshIngressCidr (SshAccess cidr)",
        )
        via_cidr.override_logical_id("SshFromCidrIngress")
        via_cidr.cfn_options.condition = from_cidr
        cdk.Validations.of(via_cidr).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions-EC23",
                reason="Only with SshAccess cidr, an explicit opt-in; the CIDR is the SshIngressCidr parameter "
                "(nag cannot read parameters), whose default admits nobody.",
            )
        )

    def _ssh_from(self, construct_id: str, source_group: str, logical_id: str, condition: cdk.CfnCondition) -> None:
        rule = ec2.CfnSecurityGroupIngress(
            self,
            construct_id,
            group_id=self.group.attr_group_id,
            ip_protocol="tcp",
            from_port=SSH_PORT,
            to_port=SSH_PORT,
            source_security_group_id=source_group,
            description="SSH from the Instance Connect Endpoint",
        )
        rule.override_logical_id(logical_id)
        rule.cfn_options.condition = condition
        _default_never_used(rule)

    def endpoint_arn(self) -> str:
        """The ARN of the endpoint tunnels go through ("none" when SshAccess is cidr: it matches nothing)."""
        return cdk.Stack.of(self).format_arn(
            service="ec2", resource="instance-connect-endpoint", resource_name=self.endpoint_id
        )
