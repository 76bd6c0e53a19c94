"""`wb doctor --live` refuses, before it creates anything, what it must not do: run without a cap, run over the
cap, or share a region with a wb stack or a live wb instance (every reaper oversees its whole region). Against
the moto server, in process; the full run is `tests/e2e/test_sandbox_doctor.py`. Every test names
`--ssh-cidr`, so nothing asks checkip.amazonaws.com for this computer's address."""

from __future__ import annotations

from collections.abc import Callable

import boto3
from weatherballoon.cli.aws_account.stack import StackInfo
from weatherballoon.lambdas import tags

from tests.integration.aws_account.conftest import InProcess

CIDR = ("--ssh-cidr", "203.0.113.7/32")


def made(moto_endpoint: str) -> tuple[list[str], list[str]]:
    stacks = [s["StackName"] for s in boto3.client("cloudformation").describe_stacks()["Stacks"]]
    return stacks, [b["Name"] for b in boto3.client("s3").list_buckets().get("Buckets", [])]


def test_live_needs_a_cap_and_live_flags_need_live(wb_here: Callable[..., InProcess]) -> None:
    no_cap = wb_here("doctor", "--live")
    assert no_cap.code == 2 and "--spend-up-to USD" in no_cap.err
    stray = wb_here("doctor", "--spend-up-to", "1", "--lease-minutes", "0.5")
    assert stray.code == 2 and "--spend-up-to, --lease-minutes: only with --live" in stray.err


def test_a_cap_below_the_worst_case_is_refused_with_the_plan(
    wb_here: Callable[..., InProcess], moto_endpoint: str
) -> None:
    refused = wb_here("doctor", "--live", "--spend-up-to", "0.001", *CIDR)
    assert refused.code == 2, refused.err
    assert "the worst case of this run is $" in refused.err and "above --spend-up-to $0.001" in refused.err
    assert "machine: t3.micro $0.0104/h" in refused.err and "a public IPv4 address" in refused.err
    assert "port 22 open to 203.0.113.7/32" in refused.err
    assert made(moto_endpoint) == ([], [])  # nothing was created


def test_a_region_with_a_wb_stack_is_refused(
    wb_here: Callable[..., InProcess], deployed: StackInfo, moto_endpoint: str
) -> None:
    before = made(moto_endpoint)
    refused = wb_here("doctor", "--live", "--spend-up-to", "1", *CIDR)
    assert refused.code == 2
    assert f"already has a wb stack: {deployed.name} (CREATE_COMPLETE)" in refused.err and "--region" in refused.err
    assert made(moto_endpoint) == before


def test_a_region_with_a_live_wb_instance_is_refused(wb_here: Callable[..., InProcess], moto_endpoint: str) -> None:
    ec2 = boto3.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    labels = tags.wb_tags("AIDAOTHER", "ml", "their-project")
    launched = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                 TagSpecifications=tags.tag_specifications(labels, ("instance",)))  # fmt: skip
    instance_id = launched["Instances"][0]["InstanceId"]
    refused = wb_here("doctor", "--live", "--spend-up-to", "1", *CIDR)
    assert refused.code == 2
    assert f"1 live wb instance(s): {instance_id} (owner AIDAOTHER)" in refused.err
    assert made(moto_endpoint) == ([], [])
