"""What AWS accepts for each value the shipped template sets: one row per documented constraint, with its source.

moto and cfn-lint check the shape of a template, not the rules each service applies to the values (an
apostrophe in a security-group rule description passes both and fails the stack in EC2). `RULES` is the table;
`violations(template, parameters)` resolves the template as a deployment would (`policy_source`) and returns
every value that breaks a rule. tests/unit/infra/test_template_values.py runs it over the shipped template and a
fresh synth, and shows that every rule rejects its own `bad` example, so no row is vacuous.

A rule's `path` walks from a resource's `Properties` (or from the template root when `resource_type` is None);
`*` is every item of a list or every value of a map. `check` returns None or what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from weatherballoon.infra.template_checks import (
    Check,
    at_most,
    default_fits_its_parameter,
    each_key,
    environment_size,
    no_reserved_keys,
    number,
    one_of,
    one_or_many,
    pattern,
    policy_characters,
    schedule_expression,
    text,
)

# --- the sources (each read for this table; the URL is where the rule is written) -------------------------------

EC2_CREATE_SG = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html (Description)"
EC2_IP_RANGE = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpRange.html (Description)"
IAM_CREATE_ROLE = "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html (Description, Path)"
CFN_IAM_ROLE = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-iam-role.html"
IAM_CREATE_POLICY = "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreatePolicy.html (Description, Path)"
IAM_PUT_ROLE_POLICY = "https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePolicy.html (PolicyName)"
IAM_QUOTAS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
IAM_SID = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_sid.html"
DDB_NAMING = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html"
CFN_LAMBDA = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-function.html"
LAMBDA_ENVIRONMENT = "https://docs.aws.amazon.com/lambda/latest/api/API_Environment.html (Key Pattern)"
LAMBDA_ENVVARS = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html (reserved variables)"
LAMBDA_LIMITS = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html (4 KB of variables, 5 layers)"
LAMBDA_RUNTIMES = "https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html (supported runtimes)"
LAMBDA_EVENT_INVOKE = "https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionEventInvokeConfig.html"
EVENTS_PUT_RULE = "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html"
EVENTS_SCHEDULE = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html"
LOGS_RETENTION = "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html"
S3_LIFECYCLE = "https://docs.aws.amazon.com/AmazonS3/latest/API/API_LifecycleRule.html (ID, Expiration Days)"
CFN_QUOTAS = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html"
CFN_PARAMETERS = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html"
EC2_SG_INGRESS = (
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-securitygroupingress.html"
)
EC2_CREATE_EICE = (
    "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateInstanceConnectEndpoint.html "
    "(SecurityGroupIds: 1 to 16; PreserveClientIp: boolean)"
)
EICE_PORTS = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/eice-security-groups.html (ports 22 and 3389)"
EC2_TAGS = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Tag.html (Key up to 127, Value up to 255 chars)"
CFN_OUTPUTS = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/outputs-section-structure.html"
EC2_CONDITION_KEYS = "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html"
EC2_PLACEMENT_STRATEGIES = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_PlacementGroupInfo.html"

# EC2's description charset, as EC2 states it for groups and for rules: a-zA-Z0-9, spaces, and ._-:/()#,@[]+=&;{}!$*
EC2_DESCRIPTION_CHARS = r"a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*"
# IAM descriptions: tab, LF, CR, printable ASCII, Latin-1 supplement.
IAM_DESCRIPTION_CHARS = r"\t\n\r\u0020-\u007E\u00A1-\u00FF"
IAM_NAME_CHARS = r"\w+=,.@-"
# Lambda runtime identifiers for Python that AWS lists as supported for new functions.
SUPPORTED_PYTHON_RUNTIMES = ("python3.10", "python3.11", "python3.12", "python3.13")
RESERVED_LAMBDA_VARIABLES = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "TZ",
    }
)
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)


# --- the table -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    rule_id: str
    resource_type: str | None
    path: tuple[str, ...]
    check: Check
    source: str
    bad: Any  # a value the rule must reject


def _sg_description(rule_id: str, path: tuple[str, ...], source: str, kind: str = "AWS::EC2::SecurityGroup") -> Rule:
    return Rule(
        rule_id,
        kind,
        path,
        text(EC2_DESCRIPTION_CHARS, max_len=255),
        source,
        "the user's job",
    )


EICE = "AWS::EC2::InstanceConnectEndpoint"
ROLE, MANAGED, INLINE = "AWS::IAM::Role", "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"
TABLE, FUNCTION, RULE_TYPE = "AWS::DynamoDB::Table", "AWS::Lambda::Function", "AWS::Events::Rule"
DDB_NAME = r"a-zA-Z0-9_.\-"
ALPHANUMERIC_NAMES = each_key(pattern(r"[A-Za-z0-9]{1,255}"))

RULES: tuple[Rule, ...] = (
    _sg_description("sg-group-description", ("GroupDescription",), EC2_CREATE_SG),
    _sg_description("sg-ingress-description", ("SecurityGroupIngress", "*", "Description"), EC2_IP_RANGE),
    _sg_description("sg-ingress-rule-description", ("Description",), EC2_SG_INGRESS, "AWS::EC2::SecurityGroupIngress"),
    Rule("sg-ingress-rule-port", "AWS::EC2::SecurityGroupIngress", ("FromPort",), one_of(22), EICE_PORTS, 2222),
    Rule("eice-groups", EICE, ("SecurityGroupIds",), at_most(16), EC2_CREATE_EICE, ["sg"] * 17),
    Rule("eice-preserve-client-ip", EICE, ("PreserveClientIp",), one_of(True, False), EC2_CREATE_EICE, "false"),
    Rule("eice-tag-key", EICE, ("Tags", "*", "Key"), text(max_len=127, min_len=1), EC2_TAGS, "k" * 128),
    Rule("eice-tag-value", EICE, ("Tags", "*", "Value"), text(max_len=255), EC2_TAGS, "v" * 256),
    _sg_description("sg-egress-description", ("SecurityGroupEgress", "*", "Description"), EC2_IP_RANGE),
    Rule(
        "iam-role-description",
        ROLE,
        ("Description",),
        text(IAM_DESCRIPTION_CHARS, max_len=1000),
        IAM_CREATE_ROLE,
        "x" * 1001,
    ),
    Rule("iam-role-path", ROLE, ("Path",), pattern(r"(/)|(/[\u0021-\u007F]+/)"), CFN_IAM_ROLE, "no-slashes"),
    Rule("iam-role-session", ROLE, ("MaxSessionDuration",), number(3600, 43200), CFN_IAM_ROLE, 60),
    Rule(
        "iam-policy-description",
        MANAGED,
        ("Description",),
        text(IAM_DESCRIPTION_CHARS, max_len=1000),
        IAM_CREATE_POLICY,
        "\u2019" * 3,
    ),
    Rule("iam-policy-path", MANAGED, ("Path",), pattern(r"((/[A-Za-z0-9.,+@=_-]+)*)/"), IAM_CREATE_POLICY, "/a b/"),
    Rule(
        "iam-managed-policy-size",
        MANAGED,
        ("PolicyDocument",),
        policy_characters(6144),
        IAM_QUOTAS,
        {"Statement": ["x" * 6200]},
    ),
    Rule(
        "iam-inline-policy-name",
        INLINE,
        ("PolicyName",),
        pattern(f"[{IAM_NAME_CHARS}]{{1,128}}"),
        IAM_PUT_ROLE_POLICY,
        "Default Policy",
    ),
    Rule(
        "iam-role-policy-size",
        INLINE,
        ("PolicyDocument",),
        policy_characters(10240),
        IAM_QUOTAS,
        {"Statement": ["x" * 10300]},
    ),
    Rule("iam-sid", MANAGED, ("PolicyDocument", "Statement", "*", "Sid"), pattern("[A-Za-z0-9]*"), IAM_SID, "Own-Rows"),
    Rule(
        "iam-inline-sid",
        INLINE,
        ("PolicyDocument", "Statement", "*", "Sid"),
        pattern("[A-Za-z0-9]*"),
        IAM_SID,
        "own rows",
    ),
    # ec2:CreateAction is the name of the creating API operation, without the `ec2:` prefix.
    Rule(
        "ec2-create-action",
        MANAGED,
        ("PolicyDocument", "Statement", "*", "Condition", "StringEquals", "ec2:CreateAction"),
        one_or_many(pattern("[A-Z][A-Za-z0-9]+")),
        EC2_CONDITION_KEYS,
        ["ec2:CreateSecurityGroup"],
    ),
    Rule(
        "ec2-placement-strategy",
        MANAGED,
        ("PolicyDocument", "Statement", "*", "Condition", "StringEqualsIfExists", "ec2:PlacementGroupStrategy"),
        one_or_many(one_of("cluster", "spread", "partition")),
        EC2_PLACEMENT_STRATEGIES,
        "Cluster",
    ),
    Rule(
        "ddb-attribute-name",
        TABLE,
        ("AttributeDefinitions", "*", "AttributeName"),
        text(max_len=255, min_len=1),
        DDB_NAMING,
        "",
    ),
    Rule(
        "ddb-ttl-attribute",
        TABLE,
        ("TimeToLiveSpecification", "AttributeName"),
        text(max_len=255, min_len=1),
        DDB_NAMING,
        "",
    ),
    Rule(
        "ddb-index-name",
        TABLE,
        ("GlobalSecondaryIndexes", "*", "IndexName"),
        text(DDB_NAME, max_len=255, min_len=3),
        DDB_NAMING,
        "by live",
    ),
    Rule(
        "ddb-index-key",
        TABLE,
        ("GlobalSecondaryIndexes", "*", "KeySchema", "*", "AttributeName"),
        text(max_len=255, min_len=1),
        DDB_NAMING,
        "k" * 256,
    ),
    Rule("lambda-description", FUNCTION, ("Description",), text(max_len=256), CFN_LAMBDA, "d" * 257),
    Rule("lambda-handler", FUNCTION, ("Handler",), pattern(r"[^\s]{1,128}"), CFN_LAMBDA, "my handler"),
    Rule("lambda-runtime", FUNCTION, ("Runtime",), one_of(*SUPPORTED_PYTHON_RUNTIMES), LAMBDA_RUNTIMES, "python3.7"),
    Rule("lambda-timeout", FUNCTION, ("Timeout",), number(1, 900), CFN_LAMBDA, 901),
    Rule("lambda-memory", FUNCTION, ("MemorySize",), number(128, 10240), CFN_LAMBDA, 64),
    Rule("lambda-architecture", FUNCTION, ("Architectures", "*"), one_of("x86_64", "arm64"), CFN_LAMBDA, "aarch64"),
    Rule(
        "lambda-env-keys",
        FUNCTION,
        ("Environment", "Variables"),
        each_key(pattern(r"[a-zA-Z]([a-zA-Z0-9_])+")),
        LAMBDA_ENVIRONMENT,
        {"1ST": "x"},
    ),
    Rule(
        "lambda-env-reserved",
        FUNCTION,
        ("Environment", "Variables"),
        no_reserved_keys(RESERVED_LAMBDA_VARIABLES),
        LAMBDA_ENVVARS,
        {"AWS_REGION": "x"},
    ),
    Rule(
        "lambda-env-size",
        FUNCTION,
        ("Environment", "Variables"),
        environment_size(4096),
        LAMBDA_LIMITS,
        {"BIG": "v" * 4096},
    ),
    Rule("lambda-layers", FUNCTION, ("Layers",), at_most(5), LAMBDA_LIMITS, ["l"] * 6),
    Rule(
        "lambda-layer-arn",
        FUNCTION,
        ("Layers", "*"),
        pattern(r"arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+"),
        CFN_LAMBDA,
        "arn:aws:lambda:us-west-2:017000801446:layer:Powertools",
    ),
    Rule(
        "lambda-retry-attempts",
        "AWS::Lambda::EventInvokeConfig",
        ("MaximumRetryAttempts",),
        number(0, 2),
        LAMBDA_EVENT_INVOKE,
        3,
    ),
    Rule("rule-description", RULE_TYPE, ("Description",), text(max_len=512), EVENTS_PUT_RULE, "r" * 513),
    Rule("rule-schedule", RULE_TYPE, ("ScheduleExpression",), schedule_expression, EVENTS_SCHEDULE, "rate(1 minutes)"),
    Rule(
        "rule-target-event-age",
        RULE_TYPE,
        ("Targets", "*", "RetryPolicy", "MaximumEventAgeInSeconds"),
        number(60, 86400),
        EVENTS_PUT_RULE,
        30,
    ),
    Rule(
        "log-retention",
        "AWS::Logs::LogGroup",
        ("RetentionInDays",),
        one_of(*sorted(LOG_RETENTION_DAYS)),
        LOGS_RETENTION,
        31,
    ),
    Rule(
        "s3-lifecycle-id",
        "AWS::S3::Bucket",
        ("LifecycleConfiguration", "Rules", "*", "Id"),
        text(max_len=255),
        S3_LIFECYCLE,
        "i" * 256,
    ),
    Rule(
        "s3-expiration-days",
        "AWS::S3::Bucket",
        ("LifecycleConfiguration", "Rules", "*", "ExpirationInDays"),
        number(1),
        S3_LIFECYCLE,
        0,
    ),
    Rule("cfn-description", None, ("Description",), text(max_len=1024, unit="bytes"), CFN_QUOTAS, "\u00e9" * 513),
    Rule("cfn-parameter-names", None, ("Parameters",), ALPHANUMERIC_NAMES, CFN_PARAMETERS, {"Team-Name": {}}),
    Rule("cfn-parameter-count", None, ("Parameters",), at_most(60), CFN_QUOTAS, {f"P{i}": {} for i in range(61)}),
    Rule(
        "cfn-parameter-description",
        None,
        ("Parameters", "*", "Description"),
        text(max_len=4000),
        CFN_PARAMETERS,
        "p" * 4001,
    ),
    Rule(
        "cfn-parameter-default",
        None,
        ("Parameters", "*"),
        default_fits_its_parameter,
        CFN_PARAMETERS,
        {"Type": "String", "Default": "x y", "AllowedPattern": "^[a-z]+$"},
    ),
    Rule("cfn-output-names", None, ("Outputs",), ALPHANUMERIC_NAMES, CFN_OUTPUTS, {"Table_Name": {}}),
    Rule("cfn-output-count", None, ("Outputs",), at_most(60), CFN_QUOTAS, {f"O{i}": {} for i in range(61)}),
    Rule(
        "cfn-output-description",
        None,
        ("Outputs", "*", "Description"),
        text(max_len=1024, unit="bytes"),
        CFN_OUTPUTS,
        "o" * 1025,
    ),
    Rule("cfn-resource-names", None, ("Resources",), ALPHANUMERIC_NAMES, CFN_QUOTAS, {"Reaper_Role": {}}),
    Rule("cfn-resource-count", None, ("Resources",), at_most(200), CFN_QUOTAS, {f"R{i}": {} for i in range(201)}),
)
