"""The security group wb instances launch into: SSH in from one admin-chosen range, anything out."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

SSH_PORT = 22


class InstanceSecurityGroup(Construct):
    """An L1 group: the VPC is a deploy-time parameter, so there is nothing for the L2 to look up."""

    def __init__(self, scope: Construct, construct_id: str, *, vpc_id: str, ssh_ingress_cidr: str) -> None:
        super().__init__(scope, construct_id)
        self.group = ec2.CfnSecurityGroup(
            self,
            "Group",
            group_description="Weatherballoon instances: SSH from the admin-chosen range",
            vpc_id=vpc_id,
            security_group_ingress=[
                ec2.CfnSecurityGroup.IngressProperty(
                    ip_protocol="tcp",
                    from_port=SSH_PORT,
                    to_port=SSH_PORT,
                    cidr_ip=ssh_ingress_cidr,
                    description="SSH from SshIngressCidr",
                )
            ],
            security_group_egress=[
                ec2.CfnSecurityGroup.EgressProperty(
                    ip_protocol="-1",
                    cidr_ip="0.0.0.0/0",
                    description="AWS APIs, package mirrors and data sets the job needs",
                )
            ],
        )
        self.group.override_logical_id("InstanceSecurityGroup")
        cdk.Validations.of(self.group).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions-EC23",
                reason="The ingress CIDR is the SshIngressCidr parameter (nag cannot read parameters); its default "
                "admits nobody, and docs/iam.md tells the admin to narrow it to the team's range.",
            )
        )
