"""The offline IAM evaluator on its own: each operator, policy variables, and the traps IAM sets."""

from __future__ import annotations

from typing import Any

import pytest
from weatherballoon.infra.policy_eval import Decision, Request, UnsupportedPolicy, authorize, evaluate

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = Decision.ALLOW, Decision.EXPLICIT_DENY, Decision.IMPLICIT_DENY
TABLE = "arn:aws:dynamodb:us-west-2:123456789012:table/wb"
INSTANCE = "arn:aws:ec2:us-west-2:123456789012:instance/i-0aaaaaaaaaaaaaaaa"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any = "s3:GetObject", resource: Any = "*", **condition: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition["condition"]
    return statement


def decide(statement: dict[str, Any], action: str, resource: str, **context: Any) -> Decision:
    return evaluate([policy(statement)], Request(action, resource, context))


def test_nothing_matching_is_an_implicit_deny() -> None:
    assert evaluate([policy(allow("s3:GetObject"))], Request("s3:PutObject", "arn:aws:s3:::b/k")) is IMPLICIT_DENY
    assert evaluate([], Request("s3:GetObject", "arn:aws:s3:::b/k")) is IMPLICIT_DENY


def test_an_explicit_deny_beats_any_allow_in_any_policy() -> None:
    allows = policy(allow("s3:*"))
    denies = policy({"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/*"})
    assert evaluate([allows, denies], Request("s3:DeleteObject", "arn:aws:s3:::b/k")) is EXPLICIT_DENY
    assert evaluate([allows, denies], Request("s3:GetObject", "arn:aws:s3:::b/k")) is ALLOW


def test_actions_match_case_insensitively_with_wildcards() -> None:
    statement = allow("ec2:Describe*")
    assert decide(statement, "EC2:describeinstances", "*") is ALLOW
    assert decide(statement, "ec2:DescribeSpotPriceHistory", "*") is ALLOW
    assert decide(statement, "ec2:RunInstances", "*") is IMPLICIT_DENY
    assert decide(allow("ec2:?topInstances"), "ec2:StopInstances", "*") is ALLOW


def test_not_action_allows_everything_else() -> None:
    statement = {"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"}
    assert decide(statement, "s3:GetObject", "arn:aws:s3:::b/k") is ALLOW
    assert decide(statement, "iam:PassRole", "arn:aws:iam::123456789012:role/r") is IMPLICIT_DENY


def test_not_resource_excludes_its_resources() -> None:
    statement = {"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::secret/*"}
    assert decide(statement, "s3:GetObject", "arn:aws:s3:::open/k") is ALLOW
    assert decide(statement, "s3:GetObject", "arn:aws:s3:::secret/k") is IMPLICIT_DENY


def test_resource_wildcards_stay_inside_their_arn_part() -> None:
    statement = allow("ec2:TerminateInstances", "arn:aws:ec2:*:123456789012:instance/*")
    assert decide(statement, "ec2:TerminateInstances", INSTANCE) is ALLOW
    other_account = INSTANCE.replace("123456789012", "999999999999")
    assert decide(statement, "ec2:TerminateInstances", other_account) is IMPLICIT_DENY
    # a region wildcard cannot swallow the account part
    sneaky = allow("ec2:TerminateInstances", "arn:aws:ec2:us-*:instance/*")
    assert decide(sneaky, "ec2:TerminateInstances", INSTANCE) is IMPLICIT_DENY


def test_resource_wildcard_spans_slashes_and_colons_in_the_resource_part() -> None:
    statement = allow("s3:GetObject", "arn:aws:s3:::b/*")
    assert decide(statement, "s3:GetObject", "arn:aws:s3:::b/owner/arn:aws:ec2:r:1:instance/i-1/f") is ALLOW
    assert decide(statement, "s3:GetObject", "arn:aws:s3:::bb/k") is IMPLICIT_DENY


def test_a_request_on_star_matches_only_a_star_resource() -> None:
    assert decide(allow("ec2:DescribeInstances", "*"), "ec2:DescribeInstances", "*") is ALLOW
    assert decide(allow("ec2:DescribeInstances", INSTANCE), "ec2:DescribeInstances", "*") is IMPLICIT_DENY


def test_policy_variables_substitute_as_literal_text_not_wildcards() -> None:
    statement = allow("s3:GetObject", "arn:aws:s3:::b/${aws:userid}/*")
    assert decide(statement, "s3:GetObject", "arn:aws:s3:::b/AIDAALICE/f", **{"aws:userid": "AIDAALICE"}) is ALLOW
    assert decide(statement, "s3:GetObject", "arn:aws:s3:::b/AIDABOB/f", **{"aws:userid": "AIDAALICE"}) is IMPLICIT_DENY
    # a '*' inside the caller's id must not become a wildcard
    assert decide(statement, "s3:GetObject", "arn:aws:s3:::b/AIDABOB/f", **{"aws:userid": "*"}) is IMPLICIT_DENY
    assert decide(statement, "s3:GetObject", "arn:aws:s3:::b/*/f", **{"aws:userid": "*"}) is ALLOW


def test_a_caller_whose_id_prefixes_another_gets_only_its_own_prefix() -> None:
    statement = allow(
        "dynamodb:PutItem", TABLE, condition={"ForAllValues:StringLike": {"k": ["OWNER#${aws:userid}#*"]}}
    )
    own = decide(statement, "dynamodb:PutItem", TABLE, **{"aws:userid": "AIDAA", "k": ["OWNER#AIDAA#x"]})
    longer = decide(statement, "dynamodb:PutItem", TABLE, **{"aws:userid": "AIDAA", "k": ["OWNER#AIDAAB#x"]})
    assert (own, longer) == (ALLOW, IMPLICIT_DENY)


def test_a_missing_policy_variable_matches_nothing_in_allow_and_in_deny() -> None:
    allows = allow("s3:GetObject", "arn:aws:s3:::b/${aws:username}/*")
    assert decide(allows, "s3:GetObject", "arn:aws:s3:::b/x/f") is IMPLICIT_DENY
    denies = {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${aws:username}/*"}
    everything = allow("s3:*", "*")
    request = Request("s3:GetObject", "arn:aws:s3:::b/x/f")
    assert evaluate([policy(everything, denies)], request) is ALLOW


def test_policy_variable_defaults_and_special_characters() -> None:
    with_default = allow("s3:GetObject", "arn:aws:s3:::b/${aws:username, 'anonymous'}/*")
    assert decide(with_default, "s3:GetObject", "arn:aws:s3:::b/anonymous/f") is ALLOW
    assert decide(with_default, "s3:GetObject", "arn:aws:s3:::b/alice/f", **{"aws:username": "alice"}) is ALLOW
    literal_star = allow("s3:GetObject", "*", condition={"StringEquals": {"s3:prefix": "a${*}b"}})
    assert decide(literal_star, "s3:GetObject", "*", **{"s3:prefix": "a*b"}) is ALLOW
    assert decide(literal_star, "s3:GetObject", "*", **{"s3:prefix": "axxb"}) is IMPLICIT_DENY


def test_string_equals_has_no_wildcards_but_string_like_does() -> None:
    equals = allow(condition={"StringEquals": {"ec2:InstanceType": "g5.*"}})
    like = allow(condition={"StringLike": {"ec2:InstanceType": "g5.*"}})
    context = {"ec2:InstanceType": "g5.xlarge"}
    assert decide(equals, "s3:GetObject", "*", **context) is IMPLICIT_DENY
    assert decide(equals, "s3:GetObject", "*", **{"ec2:InstanceType": "g5.*"}) is ALLOW
    assert decide(like, "s3:GetObject", "*", **context) is ALLOW
    assert decide(like, "s3:GetObject", "*", **{"ec2:InstanceType": "p5.48xlarge"}) is IMPLICIT_DENY


def test_string_operators_compare_values_case_sensitively_but_keys_case_insensitively() -> None:
    statement = allow(condition={"StringEquals": {"aws:RequestTag/wb:managed": "true"}})
    assert decide(statement, "s3:GetObject", "*", **{"AWS:REQUESTTAG/WB:MANAGED": "true"}) is ALLOW
    assert decide(statement, "s3:GetObject", "*", **{"aws:RequestTag/wb:managed": "TRUE"}) is IMPLICIT_DENY
    ignore_case = allow(condition={"StringEqualsIgnoreCase": {"k": "true"}})
    assert decide(ignore_case, "s3:GetObject", "*", k="TRUE") is ALLOW


def test_values_of_one_key_or_and_keys_and_operators_and() -> None:
    statement = allow(
        condition={"StringEquals": {"a": ["1", "2"], "b": "x"}, "StringLike": {"c": "y*"}},
    )
    assert decide(statement, "s3:GetObject", "*", a="2", b="x", c="yes") is ALLOW
    assert decide(statement, "s3:GetObject", "*", a="3", b="x", c="yes") is IMPLICIT_DENY
    assert decide(statement, "s3:GetObject", "*", a="1", b="z", c="yes") is IMPLICIT_DENY
    assert decide(statement, "s3:GetObject", "*", a="1", b="x", c="no") is IMPLICIT_DENY


def test_a_missing_key_fails_plain_operators_and_passes_negated_ones() -> None:
    assert decide(allow(condition={"StringEquals": {"k": "v"}}), "s3:GetObject", "*") is IMPLICIT_DENY
    assert decide(allow(condition={"StringNotEquals": {"k": "v"}}), "s3:GetObject", "*") is ALLOW
    assert decide(allow(condition={"StringNotLike": {"k": "v*"}}), "s3:GetObject", "*", k="vv") is IMPLICIT_DENY
    assert decide(allow(condition={"ArnNotLike": {"k": INSTANCE}}), "s3:GetObject", "*") is ALLOW


def test_if_exists_passes_on_a_missing_key_and_still_checks_a_present_one() -> None:
    statement = allow(condition={"StringEqualsIfExists": {"ec2:InstanceType": "t3.micro"}})
    assert decide(statement, "s3:GetObject", "*") is ALLOW
    assert decide(statement, "s3:GetObject", "*", **{"ec2:InstanceType": "t3.micro"}) is ALLOW
    assert decide(statement, "s3:GetObject", "*", **{"ec2:InstanceType": "p5.48xlarge"}) is IMPLICIT_DENY


def test_for_all_values_holds_for_an_empty_set_which_is_why_null_must_guard_it() -> None:
    only_mine = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["OWNER#me#*"]}}
    scan = Request("dynamodb:Scan", TABLE)  # a Scan names no partition key
    assert evaluate([policy(allow("dynamodb:*", TABLE, condition=only_mine))], scan) is ALLOW
    guarded = {**only_mine, "Null": {"dynamodb:LeadingKeys": "false"}}
    assert evaluate([policy(allow("dynamodb:*", TABLE, condition=guarded))], scan) is IMPLICIT_DENY
    empty = Request("dynamodb:Query", TABLE, {"dynamodb:LeadingKeys": []})
    assert evaluate([policy(allow("dynamodb:*", TABLE, condition=guarded))], empty) is IMPLICIT_DENY


def test_for_all_values_needs_every_value_to_match() -> None:
    statement = allow("dynamodb:BatchWriteItem", TABLE, condition={"ForAllValues:StringLike": {"k": ["OWNER#me#*"]}})
    assert decide(statement, "dynamodb:BatchWriteItem", TABLE, k=["OWNER#me#a", "OWNER#me#b"]) is ALLOW
    assert decide(statement, "dynamodb:BatchWriteItem", TABLE, k=["OWNER#me#a", "BUDGET"]) is IMPLICIT_DENY


def test_for_any_value_needs_one_match_and_fails_on_an_empty_set() -> None:
    statement = allow(condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["wb:owner"]}})
    assert decide(statement, "s3:GetObject", "*", **{"aws:TagKeys": ["Name", "wb:owner"]}) is ALLOW
    assert decide(statement, "s3:GetObject", "*", **{"aws:TagKeys": ["Name"]}) is IMPLICIT_DENY
    assert decide(statement, "s3:GetObject", "*", **{"aws:TagKeys": []}) is IMPLICIT_DENY
    assert decide(statement, "s3:GetObject", "*") is IMPLICIT_DENY


def test_a_case_sensitive_tag_key_allowlist_rejects_case_variants() -> None:
    statement = allow(condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["wb:managed", "Name"]}})
    assert decide(statement, "s3:GetObject", "*", **{"aws:TagKeys": ["wb:managed"]}) is ALLOW
    assert decide(statement, "s3:GetObject", "*", **{"aws:TagKeys": ["WB:MANAGED"]}) is IMPLICIT_DENY


def test_null_checks_presence() -> None:
    must_exist = allow(condition={"Null": {"aws:RequestTag/wb:project": "false"}})
    must_not = allow(condition={"Null": {"aws:RequestTag/wb:project": "true"}})
    assert decide(must_exist, "s3:GetObject", "*", **{"aws:RequestTag/wb:project": ""}) is ALLOW
    assert decide(must_exist, "s3:GetObject", "*") is IMPLICIT_DENY
    assert (
        decide(must_not, "s3:GetObject", "*"),
        decide(must_not, "s3:GetObject", "*", **{"aws:RequestTag/wb:project": "p"}),
    ) == (ALLOW, IMPLICIT_DENY)


def test_bool_compares_case_insensitively() -> None:
    statement = {
        "Effect": "Deny",
        "Action": "s3:*",
        "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    everything = allow("s3:*", "*")
    plain_http = Request("s3:GetObject", "arn:aws:s3:::b/k", {"aws:SecureTransport": "FALSE"})
    tls = Request("s3:GetObject", "arn:aws:s3:::b/k", {"aws:SecureTransport": "true"})
    assert evaluate([policy(everything, statement)], plain_http) is EXPLICIT_DENY
    assert evaluate([policy(everything, statement)], tls) is ALLOW


def test_arn_like_substitutes_variables_that_contain_colons() -> None:
    statement = allow(condition={"ArnLike": {"aws:SourceArn": "${ec2:SourceInstanceARN}"}})
    context = {"ec2:SourceInstanceARN": INSTANCE, "aws:SourceArn": INSTANCE}
    assert decide(statement, "s3:GetObject", "*", **context) is ALLOW
    other = INSTANCE.replace("aaaa", "bbbb")
    assert decide(statement, "s3:GetObject", "*", **{**context, "aws:SourceArn": other}) is IMPLICIT_DENY
    equals = allow(condition={"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/*"}})
    assert decide(equals, "s3:GetObject", "*", **{"aws:PrincipalArn": "arn:aws:iam::123456789012:role/a"}) is ALLOW


def test_a_resource_with_a_variable_holding_an_arn() -> None:
    statement = allow("s3:PutObject", "arn:aws:s3:::b/*/${ec2:SourceInstanceARN}/*")
    context = {"ec2:SourceInstanceARN": INSTANCE}
    assert decide(statement, "s3:PutObject", f"arn:aws:s3:::b/owner/{INSTANCE}/out.txt", **context) is ALLOW
    neighbour = INSTANCE.replace("aaaa", "bbbb")
    assert decide(statement, "s3:PutObject", f"arn:aws:s3:::b/owner/{neighbour}/out.txt", **context) is IMPLICIT_DENY


def test_resource_policies_match_principals() -> None:
    deny_everyone = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}
    service_only = {
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::b/*",
    }
    request = Request("s3:PutObject", "arn:aws:s3:::b/k", {"aws:PrincipalServiceName": "logging.s3.amazonaws.com"})
    assert evaluate([], request, [policy(service_only)]) is ALLOW
    assert evaluate([], Request("s3:PutObject", "arn:aws:s3:::b/k"), [policy(service_only)]) is IMPLICIT_DENY
    assert evaluate([policy(allow("s3:*"))], request, [policy(deny_everyone)]) is EXPLICIT_DENY


def test_a_single_statement_object_is_a_policy_too() -> None:
    document = {"Version": "2012-10-17", "Statement": allow("s3:GetObject")}
    assert evaluate([document], Request("s3:GetObject", "arn:aws:s3:::b/k")) is ALLOW


def test_authorize_needs_every_part_of_a_call_allowed() -> None:
    document = policy(allow("ec2:RunInstances", "arn:aws:ec2:*:*:instance/*"))
    instance = Request("ec2:RunInstances", "arn:aws:ec2:us-west-2:1:instance/*")
    volume = Request("ec2:RunInstances", "arn:aws:ec2:us-west-2:1:volume/*")
    assert authorize([document], [instance]) is ALLOW
    assert authorize([document], [instance, volume]) is IMPLICIT_DENY


@pytest.mark.parametrize(
    "statement",
    [
        allow(condition={"DateLessThan": {"k": "1"}}),
        allow(condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        allow(condition={"ForEveryValue:StringEquals": {"k": "1"}}),
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Unknown": 1},
        {"Effect": "Maybe", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:*"},
    ],
)
def test_anything_it_does_not_implement_is_refused_loudly(statement: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedPolicy):
        decide(statement, "s3:GetObject", "*", k="1", **{"aws:SourceIp": "10.0.0.1"})


def test_a_single_valued_operator_on_a_multivalued_key_is_refused() -> None:
    with pytest.raises(UnsupportedPolicy):
        decide(allow(condition={"StringEquals": {"aws:TagKeys": "a"}}), "s3:GetObject", "*", **{"aws:TagKeys": ["a"]})


@pytest.mark.parametrize(
    "operator, size, expected",
    [
        ("NumericLessThanEquals", "500", ALLOW),
        ("NumericLessThanEquals", "501", IMPLICIT_DENY),
        ("NumericLessThan", "500", IMPLICIT_DENY),
        ("NumericLessThan", "499.5", ALLOW),
        ("NumericGreaterThan", "501", ALLOW),
        ("NumericGreaterThanEquals", "500", ALLOW),
        ("NumericEquals", "500.0", ALLOW),
        ("NumericNotEquals", "500", IMPLICIT_DENY),
        ("NumericNotEquals", "8", ALLOW),
        ("NumericLessThanEquals", "lots", IMPLICIT_DENY),
    ],
)
def test_numeric_operators_compare_as_numbers(operator: str, size: str, expected: Decision) -> None:
    statement = allow("ec2:RunInstances", condition={operator: {"ec2:VolumeSize": "500"}})
    assert decide(statement, "ec2:RunInstances", "*", **{"ec2:VolumeSize": size}) is expected


def test_a_missing_numeric_key_fails_unless_if_exists() -> None:
    strict = allow("ec2:RunInstances", condition={"NumericLessThanEquals": {"ec2:VolumeIops": "3000"}})
    lenient = allow("ec2:RunInstances", condition={"NumericLessThanEqualsIfExists": {"ec2:VolumeIops": "3000"}})
    assert decide(strict, "ec2:RunInstances", "*") is IMPLICIT_DENY
    assert decide(lenient, "ec2:RunInstances", "*") is ALLOW
    assert decide(lenient, "ec2:RunInstances", "*", **{"ec2:VolumeIops": "16000"}) is IMPLICIT_DENY


def test_numeric_values_take_no_wildcards() -> None:
    statement = allow("ec2:RunInstances", condition={"NumericEquals": {"ec2:VolumeSize": "5*"}})
    assert decide(statement, "ec2:RunInstances", "*", **{"ec2:VolumeSize": "50"}) is IMPLICIT_DENY
