"""The run's names keep AWS's documented rules for each kind of name (moto checks none of them)."""

from __future__ import annotations

import ipaddress
import re

import pytest
from weatherballoon.cli.aws_account.first_contact.names import RunNames, is_doctor_stack, new_names
from weatherballoon.cli.aws_account.template import shipped_template

# rule -> (check, source)
STACK_NAME = (
    re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$"),
    "CloudFormation stack name: a letter, then letters, digits and hyphens; 1 to 128 characters",
)
BUCKET_RULES = {
    "3 to 63 characters": lambda b: 3 <= len(b) <= 63,
    "only lowercase letters, digits, periods and hyphens": lambda b: re.fullmatch(r"[a-z0-9.-]+", b) is not None,
    "begins and ends with a letter or digit": lambda b: b[0].isalnum() and b[-1].isalnum(),
    "no two adjacent periods": lambda b: ".." not in b,
    "not formatted as an IP address": lambda b: not _is_ip(b),
    "no reserved prefix (xn--, sthree-, amzn-s3-demo-)": lambda b: (
        not b.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
    ),
    "no reserved suffix (-s3alias, --ol-s3, .mrap, --x-s3)": lambda b: (
        not b.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3"))
    ),
}  # source: Amazon S3 user guide, "General purpose bucket naming rules"
LONG_REGIONS = ("ap-southeast-5", "ap-northeast-3", "us-gov-west-1", "il-central-1", "us-east-1")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("region", LONG_REGIONS)
def test_every_name_keeps_the_rules_aws_documents(region: str) -> None:
    names = new_names("123456789012", region)
    pattern, source = STACK_NAME
    assert pattern.fullmatch(names.stack), source
    team_pattern = shipped_template()["Parameters"]["TeamName"]["AllowedPattern"]
    assert re.fullmatch(team_pattern, names.team), "the template's TeamName pattern"
    for rule, holds in BUCKET_RULES.items():
        assert holds(names.staging_bucket), f"S3 bucket naming: {rule}: {names.staging_bucket}"


def test_each_run_has_names_of_its_own_and_never_the_shared_staging_bucket() -> None:
    first, second = new_names("123456789012", "us-east-1"), new_names("123456789012", "us-east-1")
    assert first.run_id != second.run_id
    assert {first.stack, first.staging_bucket} & {second.stack, second.staging_bucket} == set()
    assert not first.staging_bucket.startswith("wb-bootstrap-")  # `wb bootstrap`'s shared bucket


def test_an_earlier_runs_stack_is_recognised() -> None:
    assert is_doctor_stack(RunNames("abc123", "1", "us-east-1").stack)
    assert not is_doctor_stack("weatherballoon")
