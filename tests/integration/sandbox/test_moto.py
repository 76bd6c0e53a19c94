"""The sandbox's moto server, started exactly as the daemon starts it (`moto.start`), answers as EC2 does where
moto alone would not. Needs no root: only the moto server process."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from weatherballoon.sandbox.launchers import moto

from tests.integration.sandbox.support import IMAGE
from tests.support.moto_server import DUMMY_CREDENTIALS

pytestmark = [pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("sandbox-moto") / "moto.log"
    port = moto.free_port()
    proc = moto.start(port, log)
    try:
        yield f"http://localhost:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        assert "moto fix not applied" not in Path(log).read_text(errors="replace")


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service, endpoint_url=endpoint, region_name=DUMMY_CREDENTIALS["AWS_REGION"],
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip


@pytest.fixture(scope="module")
def ec2(endpoint: str) -> Any:
    return client("ec2", endpoint)


def launch(ec2: Any) -> str:
    """With the network interface the aws provider asks for (`DeleteOnTermination`): deleting it once more is
    what moto's second termination fails on."""
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    nic = {"DeviceIndex": 0, "SubnetId": subnet, "DeleteOnTermination": True}
    answer = ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1, InstanceType="t3.micro", NetworkInterfaces=[nic])
    return str(answer["Instances"][0]["InstanceId"])


def test_terminating_a_terminated_instance_answers_its_state(ec2: Any) -> None:
    instance_id = launch(ec2)
    first = ec2.terminate_instances(InstanceIds=[instance_id])["TerminatingInstances"]
    assert [(t["InstanceId"], t["PreviousState"]["Name"]) for t in first] == [(instance_id, "running")]
    assert first[0]["CurrentState"]["Name"] == "shutting-down"

    second = ec2.terminate_instances(InstanceIds=[instance_id])["TerminatingInstances"]
    assert [(t["InstanceId"], t["PreviousState"]["Name"], t["CurrentState"]["Name"]) for t in second] == [
        (instance_id, "terminated", "terminated")
    ]


def test_a_batch_mixing_terminated_and_running_instances_terminates_the_running_ones(ec2: Any) -> None:
    gone, alive = launch(ec2), launch(ec2)
    ec2.terminate_instances(InstanceIds=[gone])
    answer = ec2.terminate_instances(InstanceIds=[gone, alive])["TerminatingInstances"]
    states = {t["InstanceId"]: (t["PreviousState"]["Name"], t["CurrentState"]["Name"]) for t in answer}
    assert states == {gone: ("terminated", "terminated"), alive: ("running", "shutting-down")}
    described = ec2.describe_instances(InstanceIds=[alive])["Reservations"][0]["Instances"][0]
    assert described["State"]["Name"] == "terminated"


def test_unknown_instances_still_fail_as_in_ec2(ec2: Any) -> None:
    with pytest.raises(ec2.exceptions.ClientError, match=r"InvalidInstanceID\.NotFound"):
        ec2.terminate_instances(InstanceIds=["i-0123456789abcdef0"])


def test_racing_conditional_writes_have_exactly_one_winner(endpoint: str) -> None:
    """As in DynamoDB, a condition is checked and the write applied as one step: of 16 claims racing for one
    row, exactly one wins, every round (without the lock, 2 won in round 15 of 300 on a loaded machine)."""
    dynamodb = client("dynamodb", endpoint)
    dynamodb.create_table(
        TableName="race", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )  # fmt: skip
    clients = [client("dynamodb", endpoint) for _ in range(16)]  # one each: a botocore client is not shared

    def claim(args: tuple[int, int]) -> bool:
        round_no, who = args
        try:
            clients[who].update_item(
                TableName="race", Key={"pk": {"S": f"row-{round_no}"}},
                UpdateExpression="SET claim = :me", ConditionExpression="attribute_not_exists(claim)",
                ExpressionAttributeValues={":me": {"S": str(who)}},
            )  # fmt: skip
        except ClientError as exc:  # by code: a default session replaced elsewhere means new exception classes
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    with ThreadPoolExecutor(max_workers=16) as pool:
        for round_no in range(60):
            winners = sum(pool.map(claim, [(round_no, who) for who in range(16)]))
            assert winners == 1, f"round {round_no}: {winners} claims won"
