"""Template assertions: each construct's resources and the properties the design depends on."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match, Template
from weatherballoon.infra.parameters import CLOSED_SSH_CIDR, DEFAULT_ALLOWED_INSTANCE_TYPES

EXPECTED_PARAMETERS = {
    "SshAccess",
    "InstanceConnectEndpointId",
    "InstanceConnectEndpointSecurityGroupId",
    "InstanceConnectSubnetId",
    "OwnerBudgetUsd",
    "TeamBudgetUsd",
    "TeamName",
    "LeaseMinutes",
    "IdleMinutes",
    "MaxHours",
    "AllowedInstanceTypes",
    "AdminPrincipalArns",
    "ReaperSchedule",
    "ReaperMode",
    "ReaperCodeBucket",
    "ReaperCodeKey",
    "PowertoolsLayerVersion",
    "OrphanGraceSeconds",
    "AuditTtlDays",
    "OutputsExpirationDays",
    "SshIngressCidr",
    "VpcId",
    "MaxVolumeGiB",
    "ExtraOutputBucket",
}
EXPECTED_OUTPUTS = {
    "TunnelEndpointId",
    "GivenTunnelEndpointId",
    "TableName",
    "BucketName",
    "InstanceProfileArn",
    "InstanceRoleArn",
    "SecurityGroupId",
    "MemberPolicyArn",
    "AdminPolicyArn",
    "ReaperFunctionName",
    "ReaperLogGroupName",
    "WbTeam",
    "DefaultLeaseMinutes",
    "DefaultIdleMinutes",
    "InstanceMaxHours",
    "GrantedExtraBucket",
    "MaxLaunchVolumeGiB",
    "WbVersion",
}


def test_the_template_deploys_without_any_bootstrap_resource(template_json: dict[str, Any]) -> None:
    assert "Rules" not in template_json  # no CheckBootstrapVersion rule
    assert "BootstrapVersion" not in template_json["Parameters"]
    assert "CDKMetadata" not in template_json["Resources"]
    types = {resource["Type"] for resource in template_json["Resources"].values()}
    assert not any(kind.startswith("Custom::") or kind == "AWS::CloudFormation::CustomResource" for kind in types)
    # No CDK metadata (asset paths, construct paths); only cfn-lint's per-resource config (infra/network.py).
    assert all(set(resource.get("Metadata", {})) <= {"cfn-lint"} for resource in template_json["Resources"].values())


def test_parameters_are_exactly_the_documented_ones(template_json: dict[str, Any]) -> None:
    assert set(template_json["Parameters"]) == EXPECTED_PARAMETERS


def test_parameter_defaults_are_safe(template_json: dict[str, Any]) -> None:
    parameters = template_json["Parameters"]
    assert parameters["ReaperSchedule"]["Default"] == "rate(1 minute)"
    assert parameters["ReaperMode"] == {**parameters["ReaperMode"], "Default": "enforce"}
    assert parameters["ReaperMode"]["AllowedValues"] == ["enforce", "dry-run"]
    assert parameters["SshIngressCidr"]["Default"] == CLOSED_SSH_CIDR
    assert parameters["AllowedInstanceTypes"]["Type"] == "CommaDelimitedList"
    assert parameters["AllowedInstanceTypes"]["Default"].split(",") == list(DEFAULT_ALLOWED_INSTANCE_TYPES)
    assert parameters["AdminPrincipalArns"] == {**parameters["AdminPrincipalArns"], "Default": ""}
    assert "Default" not in parameters["ReaperCodeBucket"] and "Default" not in parameters["ReaperCodeKey"]
    assert parameters["VpcId"]["Type"] == "AWS::EC2::VPC::Id"


def test_outputs_name_what_clients_need(template: Template, template_json: dict[str, Any]) -> None:
    assert set(template_json["Outputs"]) == EXPECTED_OUTPUTS
    from weatherballoon.infra.stack import package_version

    template.has_output("WbVersion", {"Value": package_version()})
    template.has_output("TableName", {"Value": {"Ref": "SupervisionTable"}})
    template.has_output("InstanceProfileArn", {"Value": {"Fn::GetAtt": ["InstanceProfile", "Arn"]}})
    template.has_output("SecurityGroupId", {"Value": {"Fn::GetAtt": ["InstanceSecurityGroup", "GroupId"]}})


def test_table_is_on_demand_recoverable_encrypted_and_expires_rows(template: Template) -> None:
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "live", "AttributeType": "S"},
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "live-rows",
                    "KeySchema": [
                        {"AttributeName": "live", "KeyType": "HASH"},
                        {"AttributeName": "pk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
        },
    )


def test_outputs_bucket_is_private_encrypted_logged_expiring_and_retained(template: Template) -> None:
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "LoggingConfiguration": {"DestinationBucketName": {"Ref": "AccessLogsBucket"}},
                "LifecycleConfiguration": {
                    "Rules": [
                        Match.object_like(
                            {
                                "ExpirationInDays": {"Ref": "OutputsExpirationDays"},
                                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                            }
                        )
                    ]
                },
            },
            "DeletionPolicy": "Retain",
        },
    )


def test_both_buckets_refuse_plain_http(template_json: dict[str, Any]) -> None:
    policies = [r for r in template_json["Resources"].values() if r["Type"] == "AWS::S3::BucketPolicy"]
    buckets = {policy["Properties"]["Bucket"]["Ref"] for policy in policies}
    assert buckets == {"OutputsBucket", "AccessLogsBucket"}
    for policy in policies:
        tls = [
            statement
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if statement["Effect"] == "Deny"
            and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert tls and tls[0]["Action"] == "s3:*"


def test_reaper_is_python_arm64_with_its_parameters_in_the_environment(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "weatherballoon.lambdas.reaper.handler",
            "Runtime": Match.string_like_regexp(r"^python3\.(1[2-9])$"),
            "Architectures": ["arm64"],
            "Code": {"S3Bucket": {"Ref": "ReaperCodeBucket"}, "S3Key": {"Ref": "ReaperCodeKey"}},
            "TracingConfig": {"Mode": "Active"},
            "LoggingConfig": {"LogGroup": {"Ref": "ReaperLogGroup"}, "LogFormat": "JSON"},
            "Role": {"Fn::GetAtt": ["ReaperRole", "Arn"]},
            "Environment": {
                "Variables": {
                    "TABLE_NAME": {"Ref": "SupervisionTable"},
                    "MODE": {"Ref": "ReaperMode"},
                    "ORPHAN_GRACE_SECONDS": {"Ref": "OrphanGraceSeconds"},
                    "DEFAULT_OWNER_BUDGET_USD": {"Ref": "OwnerBudgetUsd"},
                    "TEAM_BUDGET_USD": {"Ref": "TeamBudgetUsd"},
                    "TEAM_NAME": {"Ref": "TeamName"},
                    "AUDIT_TTL_DAYS": {"Ref": "AuditTtlDays"},
                    "MAX_HOURS": {"Ref": "MaxHours"},
                    "POWERTOOLS_SERVICE_NAME": "weatherballoon-reaper",
                    "POWERTOOLS_METRICS_NAMESPACE": "Weatherballoon",
                }
            },
        },
    )


def test_reaper_takes_the_public_powertools_layer_unless_told_not_to(template_json: dict[str, Any]) -> None:
    layers = template_json["Resources"]["ReaperFunction"]["Properties"]["Layers"]
    condition, when_used, when_not = layers["Fn::If"]
    assert when_not == {"Ref": "AWS::NoValue"}
    arn, names = when_used[0]["Fn::Sub"]
    assert arn == (
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${LayerAccount}:layer:"
        "AWSLambdaPowertoolsPythonV3-python313-arm64:${PowertoolsLayerVersion}"
    )
    # The layer's account: AWS's public one in the commercial partition, else the mapping's (China, GovCloud).
    account = names["LayerAccount"]["Fn::If"]
    assert account[0] == "CommercialPartition" and account[1] == "017000801446"
    assert account[2]["Fn::FindInMap"][0] == "PowertoolsLayerAccounts"
    assert template_json["Conditions"][condition] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PowertoolsLayerVersion"}, "0"]}]
    }


def test_reaper_logs_are_kept_a_month_and_its_schedule_is_the_parameter(template: Template) -> None:
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": {"Ref": "ReaperSchedule"},
            "State": "ENABLED",
            "Targets": [
                Match.object_like(
                    {
                        "Arn": {"Fn::GetAtt": ["ReaperFunction", "Arn"]},
                        "RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 120},
                    }
                )
            ],
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {"Principal": "events.amazonaws.com", "SourceArn": {"Fn::GetAtt": ["ReaperScheduleRule", "Arn"]}},
    )


def test_instance_profile_wraps_the_instance_role(template: Template) -> None:
    template.has_resource_properties("AWS::IAM::InstanceProfile", {"Roles": [{"Ref": "InstanceRole"}]})
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": Match.object_like(
                {"Statement": [Match.object_like({"Principal": {"Service": "ec2.amazonaws.com"}})]}
            )
        },
    )


def test_roles_carry_no_managed_policies(template_json: dict[str, Any]) -> None:
    roles = [r for r in template_json["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    assert len(roles) == 2
    assert all("ManagedPolicyArns" not in role["Properties"] for role in roles)


def test_instance_group_has_no_inline_ingress(template: Template) -> None:
    """Port 22 is opened by separate rules, one per SshAccess mode (tests/unit/infra/test_ssh_access.py)."""
    group = template.to_json()["Resources"]["InstanceSecurityGroup"]["Properties"]
    assert group["VpcId"] == {"Ref": "VpcId"} and "SecurityGroupIngress" not in group


def test_member_and_admin_policies_are_managed_policies_attached_to_nobody(template_json: dict[str, Any]) -> None:
    for logical_id in ("MemberPolicy", "AdminPolicy"):
        resource = template_json["Resources"][logical_id]
        assert resource["Type"] == "AWS::IAM::ManagedPolicy"
        assert not {"Roles", "Users", "Groups"} & set(resource["Properties"])


def test_every_wildcard_resource_in_identity_policies_is_a_describe_xray_or_metrics_action(
    template_json: dict[str, Any],
) -> None:
    from weatherballoon.infra.team_policies import EC2_DESCRIBE_ACTIONS

    allowed_with_star = {
        *EC2_DESCRIBE_ACTIONS,
        "ec2:DescribeTags",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "cloudwatch:PutMetricData",
    }
    for logical_id, resource in template_json["Resources"].items():
        if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Resource"] == "*":
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert set(actions) <= allowed_with_star, (logical_id, statement)
