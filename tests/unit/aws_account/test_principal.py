"""Caller ARNs resolved to the IAM user or role whose policies apply."""

from __future__ import annotations

import pytest
from weatherballoon.cli.aws_account.principal import Principal, parse_principal


@pytest.mark.parametrize(
    ("arn", "principal"),
    [
        ("arn:aws:iam::123456789012:user/alice", Principal("user", "alice")),
        ("arn:aws:iam::123456789012:user/team/ml/bob", Principal("user", "bob")),
        ("arn:aws:sts::123456789012:assumed-role/Dev/carol@example.com", Principal("role", "Dev", "carol@example.com")),
        ("arn:aws:iam::123456789012:role/service/Runner", Principal("role", "Runner")),
        ("arn:aws:iam::123456789012:root", Principal("root", "")),
        ("arn:aws-cn:sts::123456789012:federated-user/dan", Principal("other", "federated-user/dan")),
    ],
)
def test_parse_principal(arn: str, principal: Principal) -> None:
    assert parse_principal(arn) == principal
