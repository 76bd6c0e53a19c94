"""The supervision stack: composes the constructs and wires their grants. No resource is defined here."""

from __future__ import annotations

from importlib.metadata import version

import aws_cdk as cdk
from constructs import Construct
from weatherballoon.infra.bucket import OutputsBucket
from weatherballoon.infra.extra_bucket import ExtraOutputBucket
from weatherballoon.infra.iam import InstanceRole, ReaperRole
from weatherballoon.infra.network import InstanceSecurityGroup
from weatherballoon.infra.parameters import declare_parameters
from weatherballoon.infra.reaper import METRICS_NAMESPACE, Reaper
from weatherballoon.infra.table import SupervisionTable
from weatherballoon.infra.team_policies import AdminPolicy, MemberPolicy

STACK_NAME = "weatherballoon"


def package_version() -> str:
    return version("weatherballoon")


class SupervisionStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        wb_version = package_version()
        super().__init__(
            scope,
            construct_id,
            description=f"Weatherballoon supervision: table, reaper, bucket and IAM (wb {wb_version})",
            **kwargs,  # type: ignore[arg-type]
        )
        parameters = declare_parameters(self)

        table = SupervisionTable(self, "Supervision", removal_policy=cdk.RemovalPolicy.DESTROY).table
        outputs = OutputsBucket(self, "Outputs", expiration_days=parameters.outputs_expiration_days).bucket
        reaper_role = ReaperRole(self, "ReaperRole", metrics_namespace=METRICS_NAMESPACE).role
        reaper = Reaper(self, "Reaper", table=table, role=reaper_role, parameters=parameters)
        table.grant_read_write_data(reaper_role)
        reaper.log_group.grant_write(reaper_role)

        extra_bucket = ExtraOutputBucket(self, "ExtraOutputs", name=parameters.extra_output_bucket)
        instance = InstanceRole(self, "Instance", table=table, bucket=outputs, extra_bucket=extra_bucket)
        network = InstanceSecurityGroup(self, "InstanceNetwork", parameters=parameters)
        security_group = network.group
        member = MemberPolicy(
            self,
            "Member",
            table=table,
            bucket=outputs,
            instance_role=instance.role,
            allowed_instance_types=parameters.allowed_instance_types.value_as_list,
            team_name=parameters.team_name.value_as_string,
            max_volume_gib=parameters.max_volume_gib,
            extra_bucket=extra_bucket,
            tunnel_endpoint_arn=network.endpoint_arn(),
        ).policy
        admin = AdminPolicy(
            self,
            "Admin",
            table=table,
            reaper_log_group=reaper.log_group,
            admin_principal_arns=parameters.admin_principal_arns.value_as_list,
        ).policy

        outputs_by_name = {
            "TableName": table.table_name,
            "BucketName": outputs.bucket_name,
            "InstanceProfileArn": instance.profile.instance_profile_arn,
            "InstanceRoleArn": instance.role.role_arn,
            "SecurityGroupId": security_group.attr_group_id,
            "MemberPolicyArn": member.managed_policy_arn,
            "AdminPolicyArn": admin.managed_policy_arn,
            "ReaperFunctionName": reaper.function.function_name,
            "ReaperLogGroupName": reaper.log_group.log_group_name,
            # Echoes of parameters (output names may not repeat a parameter's) for clients' defaults.
            "WbTeam": parameters.team_name.value_as_string,
            "DefaultLeaseMinutes": parameters.lease_minutes.value_as_string,
            "DefaultIdleMinutes": parameters.idle_minutes.value_as_string,
            "InstanceMaxHours": parameters.max_hours.value_as_string,
            "GrantedExtraBucket": parameters.extra_output_bucket.value_as_string,
            "MaxLaunchVolumeGiB": parameters.max_volume_gib.value_as_string,
            "WbVersion": wb_version,
        }
        for name, value in outputs_by_name.items():
            cdk.CfnOutput(self, name, value=value)
