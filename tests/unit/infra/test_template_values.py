"""Every value the template sets obeys what AWS documents for it (infra/template_rules.py holds the table)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from weatherballoon.infra.shipped_template import load_shipped_template
from weatherballoon.infra.template_rules import RULES, Rule
from weatherballoon.infra.template_walk import violations

from tests.unit.infra.iam_world import PARAMETERS


def test_the_shipped_template_obeys_every_documented_value_rule() -> None:
    assert [str(v) for v in violations(load_shipped_template(), PARAMETERS)] == []


def test_a_fresh_synth_obeys_every_documented_value_rule(template_json: dict[str, Any]) -> None:
    assert [str(v) for v in violations(template_json, PARAMETERS)] == []


@pytest.mark.parametrize("rule", RULES, ids=[rule.rule_id for rule in RULES])
def test_each_rule_rejects_its_bad_example(rule: Rule) -> None:
    assert rule.check(rule.bad), f"{rule.rule_id} accepts {rule.bad!r}: it checks nothing"


def test_every_rule_names_where_aws_documents_it() -> None:
    for rule in RULES:
        assert rule.source.startswith("https://docs.aws.amazon.com/"), rule.rule_id
    assert len({rule.rule_id for rule in RULES}) == len(RULES)


def test_an_apostrophe_in_a_security_group_rule_fails_the_check() -> None:
    # The defect of issue 8 item 1: EC2 rejects it and the whole stack rolls back; moto and cfn-lint accept it.
    template = copy.deepcopy(load_shipped_template())
    egress = template["Resources"]["InstanceSecurityGroup"]["Properties"]["SecurityGroupEgress"][0]
    egress["Description"] = "AWS APIs, package mirrors and data sets the user's job needs"
    found = violations(template, PARAMETERS)
    assert [(v.rule_id, v.where) for v in found] == [
        ("sg-egress-description", "Resources/InstanceSecurityGroup/Properties/SecurityGroupEgress/0/Description")
    ]
    assert '"\'"' in found[0].problem


def test_every_rule_selects_something_in_the_template() -> None:
    # A path that matches nothing would pass forever; rules for properties the stack does not set yet are listed.
    from weatherballoon.infra.template_walk import select

    template = load_shipped_template()
    unused = []
    for rule in RULES:
        if rule.resource_type is None:
            roots = [template]
        else:
            roots = [r.get("Properties", {}) for r in template["Resources"].values() if r["Type"] == rule.resource_type]
        if not any(True for root in roots for _ in select(root, rule.path, "")):
            unused.append(rule.rule_id)
    assert unused == [
        "sg-ingress-description",  # the groups' ingress is separate rules now (sg-ingress-rule-description)
        "iam-role-path",
        "iam-role-session",
        "s3-lifecycle-id",
        "cfn-output-description",
    ]
