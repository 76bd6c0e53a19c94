"""The member policy in the shipped template grants every action the aws provider declares it needs."""

from __future__ import annotations

import fnmatch

from weatherballoon.cli.aws_account.template import shipped_template
from weatherballoon.cli.providers.aws.permissions import MEMBER_ACTIONS


def member_allows() -> list[str]:
    statements = shipped_template()["Resources"]["MemberPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    patterns: list[str] = []
    for statement in statements:
        if statement["Effect"] == "Allow":
            action = statement["Action"]
            patterns += [action] if isinstance(action, str) else action
    return patterns


def test_every_declared_action_is_granted_to_members() -> None:
    granted = member_allows()
    missing = sorted(a for a in MEMBER_ACTIONS if not any(fnmatch.fnmatchcase(a, p) for p in granted))
    assert missing == []
