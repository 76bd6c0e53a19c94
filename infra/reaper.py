"""The reaper: a Lambda on an EventBridge schedule that stops every wb instance that must not run any more."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from weatherballoon.infra.parameters import StackParameters

HANDLER = "weatherballoon.lambdas.reaper.handler"
RUNTIME = lambda_.Runtime.PYTHON_3_13
METRICS_NAMESPACE = "Weatherballoon"
SERVICE_NAME = "weatherballoon-reaper"
# A run that outlasts two schedule periods is a bug worth an error metric, not a reason to keep going.
TIMEOUT = cdk.Duration.seconds(120)
# 1,769 MB is one full vCPU: at 10,000 instances botocore spends ~12 CPU-seconds parsing DescribeInstances
# pages (bench/reaper_scale.py), which at 512 MB (a third of a vCPU) would eat a third of the timeout.
MEMORY_MB = 1769
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
# The next scheduled run retries anyway; stale retries would only overlap with it.
STALE_EVENT_AGE = cdk.Duration.minutes(2)

# Who publishes the public Powertools layer (docs.powertools.aws.dev, "Installation", Lambda Layer): one account
# for every commercial region, others in the China and GovCloud partitions. A region of another partition that
# is not listed has no public layer: bootstrap refuses it unless the zip vendors Powertools (version 0).
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_PARTITION_LAYER_ACCOUNTS = {
    "cn-north-1": "498634801083",
    "us-gov-east-1": "165087284144",
    "us-gov-west-1": "165093116878",
}
POWERTOOLS_LAYER_NAME = "AWSLambdaPowertoolsPythonV3-python313-arm64"


class Reaper(Construct):
    """The function, its log group with retention, and the schedule rule that invokes it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        role: iam.IRole,
        parameters: StackParameters,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION, removal_policy=cdk.RemovalPolicy.DESTROY)
        self.function = lambda_.Function(
            self,
            "Function",
            description="Weatherballoon reaper: terminates wb instances past lease, lifetime or budget.",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=lambda_.Code.from_cfn_parameters(
                bucket_name_param=parameters.reaper_code_bucket,
                object_key_param=parameters.reaper_code_key,
            ),
            role=role,
            timeout=TIMEOUT,
            memory_size=MEMORY_MB,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            retry_attempts=0,
            environment=_environment(table, parameters),
        )
        self._attach_powertools_layer(parameters.powertools_layer_version)
        self.log_group.node.default_child.override_logical_id("ReaperLogGroup")  # type: ignore[union-attr]
        self.function.node.default_child.override_logical_id("ReaperFunction")  # type: ignore[union-attr]
        self._depend_only_on_role_policy(role)
        self.rule = events.Rule(
            self,
            "Schedule",
            description="Runs the weatherballoon reaper.",
            schedule=events.Schedule.expression(parameters.reaper_schedule.value_as_string),
            targets=[targets.LambdaFunction(self.function, retry_attempts=0, max_event_age=STALE_EVENT_AGE)],
        )
        self.rule.node.default_child.override_logical_id("ReaperScheduleRule")  # type: ignore[union-attr]

    def _depend_only_on_role_policy(self, role: iam.IRole) -> None:
        """CDK makes the function depend on the whole role construct; the role half is already implied by
        GetAtt (cfn-lint W3005). The policy half matters: the first run must find its permissions."""
        policy = role.node.try_find_child("DefaultPolicy")
        assert policy is not None and policy.node.default_child is not None
        policy_id = cdk.Stack.of(self).get_logical_id(policy.node.default_child)  # type: ignore[arg-type]
        self.function.node.default_child.add_override("DependsOn", [policy_id])  # type: ignore[union-attr]

    def _attach_powertools_layer(self, layer_version: cdk.CfnParameter) -> None:
        # An L1 override, because the layer must be optional at deploy time: moto and private copies of the
        # reaper zip that vendor Powertools run without it.
        use_layer = cdk.CfnCondition(
            self,
            "UsePowertoolsLayer",
            expression=cdk.Fn.condition_not(cdk.Fn.condition_equals(layer_version.value_as_string, "0")),
        )
        use_layer.override_logical_id("UsePowertoolsLayer")
        commercial = cdk.CfnCondition(
            self, "CommercialPartition", expression=cdk.Fn.condition_equals(cdk.Aws.PARTITION, "aws")
        )
        commercial.override_logical_id("CommercialPartition")
        accounts = cdk.CfnMapping(
            self,
            "PowertoolsLayerAccounts",
            mapping={region: {"Account": account} for region, account in POWERTOOLS_PARTITION_LAYER_ACCOUNTS.items()},
        )
        accounts.override_logical_id("PowertoolsLayerAccounts")
        layer_account = cdk.Fn.condition_if(
            commercial.logical_id, POWERTOOLS_LAYER_ACCOUNT, accounts.find_in_map(cdk.Aws.REGION, "Account")
        )
        layer_arn = cdk.Fn.sub(
            "arn:${AWS::Partition}:lambda:${AWS::Region}:${LayerAccount}:layer:"
            f"{POWERTOOLS_LAYER_NAME}:${{{layer_version.logical_id}}}",
            {"LayerAccount": layer_account.to_string()},
        )
        function_resource = self.function.node.default_child
        assert isinstance(function_resource, lambda_.CfnFunction)
        function_resource.add_property_override(
            "Layers", cdk.Fn.condition_if(use_layer.logical_id, [layer_arn], cdk.Aws.NO_VALUE)
        )
        cdk.Validations.of(function_resource).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions-L1",
                reason=f"{POWERTOOLS_LAYER_NAME} is the newest runtime for which the public Powertools layer "
                "is published and confirmed; the runtime moves together with the layer name.",
            )
        )


def _environment(table: dynamodb.ITable, parameters: StackParameters) -> dict[str, str]:
    return {
        "TABLE_NAME": table.table_name,
        "MODE": parameters.reaper_mode.value_as_string,
        "ORPHAN_GRACE_SECONDS": parameters.orphan_grace_seconds.value_as_string,
        "DEFAULT_OWNER_BUDGET_USD": parameters.owner_budget_usd.value_as_string,
        "TEAM_BUDGET_USD": parameters.team_budget_usd.value_as_string,
        "TEAM_NAME": parameters.team_name.value_as_string,
        "AUDIT_TTL_DAYS": parameters.audit_ttl_days.value_as_string,
        "MAX_HOURS": parameters.max_hours.value_as_string,
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
    }
