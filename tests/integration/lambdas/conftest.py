"""Fixtures for the reaper against the moto server (`moto_endpoint` comes from tests/conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from weatherballoon.lambdas import reaper as handler_module
from weatherballoon.lambdas import schema, tags
from weatherballoon.lambdas.aws import make_client
from weatherballoon.lambdas.dynamo_codec import to_wire
from weatherballoon.lambdas.dynamo_store import DynamoStore
from weatherballoon.lambdas.dynamo_table import table_request
from weatherballoon.lambdas.meter import MeterRecord, Price, PriceSource
from weatherballoon.lambdas.records import InstanceRecord, InstanceState, JobRow

from tests.integration.lambdas.fault_proxy import FaultProxy, running

TABLE = "wb-supervision"
IMAGE = "ami-03cf127a"  # one of moto's bundled Amazon images


def create_table(client: Any, name: str = TABLE) -> None:
    """The table the CDK stack creates in production (`table_request`), TTL on expires_at."""
    client.create_table(**table_request(name))
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": schema.TTL_ATTRIBUTE}
    )


@dataclass
class LambdaContext:
    """The attributes Powertools reads from the Lambda context object."""

    function_name: str = "wb-reaper"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-west-2:123456789012:function:wb-reaper"
    aws_request_id: str = "req-1"


class World:
    """Seeds EC2 instances and table rows in the moto server, and reads them back."""

    def __init__(self) -> None:
        self.session = boto3.session.Session()
        self.ec2 = make_client("ec2", session=self.session)
        self.ddb = make_client("dynamodb", session=self.session)
        self.store = DynamoStore(TABLE, client=self.ddb)
        self.region = self.ec2.meta.region_name

    def launch(
        self, count: int, *, owner: str = "AIDAALICE", team: str = "ml", managed: str | None = "true",
        instance_type: str = "g5.xlarge", extra: dict[str, str] | None = None, spot: bool = False,
    ) -> list[str]:  # fmt: skip
        tag_map = {tags.OWNER: owner, tags.TEAM: team, tags.PROJECT: "proj", **(extra or {})}
        if managed is not None:
            tag_map[tags.MANAGED] = managed
        ids: list[str] = []
        while len(ids) < count:
            n = min(1000, count - len(ids))
            market = {"InstanceMarketOptions": {"MarketType": "spot"}} if spot else {}
            response = self.ec2.run_instances(
                ImageId=IMAGE, MinCount=n, MaxCount=n, InstanceType=instance_type,
                TagSpecifications=tags.tag_specifications(tag_map, ("instance",)), **market,
            )  # fmt: skip
            ids += [i["InstanceId"] for i in response["Instances"]]
        return ids

    def arn(self, instance_id: str) -> str:
        return schema.instance_arn(self.region, "123456789012", instance_id)

    def row(self, instance_id: str, now: float, **changes: Any) -> InstanceRecord:
        record = InstanceRecord(
            owner="AIDAALICE", instance_arn=self.arn(instance_id), instance_type="g5.xlarge", launched_at=now - 900,
            lease_until=now + 300, max_until=now + 86400, price_usd_hour=1.006, team="ml", project="proj",
            state=InstanceState.BUSY, accrued_until=now - 60,
        )  # fmt: skip
        return record.replace(**changes) if changes else record

    def meter(self, instance_id: str) -> MeterRecord | None:
        """The reaper's meter of an instance (consistent read), or None."""
        from weatherballoon.lambdas.dynamo_codec import from_wire, key

        pk, sk = schema.meter_key(self.arn(instance_id))
        item = self.ddb.get_item(TableName=TABLE, Key=key(pk, sk), ConsistentRead=True).get("Item")
        return None if item is None else MeterRecord.from_item(from_wire(item))

    def put_meter(self, instance_id: str, now: float, usd_hour: float, **changes: Any) -> MeterRecord:
        """A meter as the reaper would have written it at an earlier run (accrued up to `now - 60`)."""
        spot = bool(changes.pop("spot", False))
        record = MeterRecord(
            instance_arn=self.arn(instance_id), owner="AIDAALICE", team="ml", instance_type="g5.xlarge",
            spot=spot, price=Price(usd_hour, PriceSource.SPOT if spot else PriceSource.TABLE),
            lifetime_start=now - 900, first_seen=now - 840, accrued_until=now - 60,
        ).replace(**changes)  # fmt: skip
        self.ddb.put_item(TableName=TABLE, Item=to_wire(record.to_item()))
        return record

    def put_meters(self, instance_ids: list[str], now: float, usd_hour: float = 1.006) -> None:
        """Meters charged up to `now` (batch-written): a run at `now` has nothing left to accrue."""
        requests = []
        for instance_id in instance_ids:
            record = MeterRecord(
                instance_arn=self.arn(instance_id), owner="AIDAALICE", team="ml", instance_type="g5.xlarge",
                spot=False, price=Price(usd_hour, PriceSource.TABLE), lifetime_start=now - 900,
                first_seen=now - 840, accrued_until=now,
            )  # fmt: skip
            requests.append({"PutRequest": {"Item": to_wire(record.to_item())}})
        for start in range(0, len(requests), 25):
            self.ddb.batch_write_item(RequestItems={TABLE: requests[start : start + 25]})

    def put_rows(self, records: list[InstanceRecord] | list[JobRow]) -> None:
        requests = [{"PutRequest": {"Item": to_wire(r.to_item())}} for r in records]
        for start in range(0, len(requests), 25):
            self.ddb.batch_write_item(RequestItems={TABLE: requests[start : start + 25]})

    def states(self) -> dict[str, str]:
        """Instance id -> EC2 state, for every instance (DescribeInstanceStatus: moto renders no tags)."""
        found = {}
        pages = self.ec2.get_paginator("describe_instance_status").paginate(IncludeAllInstances=True)
        for page in pages:
            for status in page["InstanceStatuses"]:
                found[status["InstanceId"]] = status["InstanceState"]["Name"]
        return found

    def terminated(self) -> set[str]:
        return {i for i, state in self.states().items() if state in ("shutting-down", "terminated")}

    def audits(self) -> dict[str, dict[str, Any]]:
        from weatherballoon.lambdas.dynamo_codec import from_wire

        found: dict[str, dict[str, Any]] = {}
        for page in self.ddb.get_paginator("scan").paginate(TableName=TABLE):
            for item in map(from_wire, page["Items"]):
                if item["pk"].startswith(schema.AUDIT_PREFIX):
                    found[item["instance_id"]] = item
        return found


@pytest.fixture
def world(moto_endpoint: str) -> Iterator[World]:
    world = World()
    create_table(world.ddb)
    handler_module.set_reaper(None)
    yield world
    handler_module.set_reaper(None)


@pytest.fixture
def reaper_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"TABLE_NAME": TABLE, "MODE": "enforce", "ORPHAN_GRACE_SECONDS": "600", "TEAM_NAME": "ml",
           "API_MAX_ATTEMPTS": "3"}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def ec2_proxy(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """EC2 calls of clients built after this go through the fault proxy; DynamoDB goes straight to moto."""
    with running(FaultProxy(moto_endpoint)) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", proxy.url)
        yield proxy


@pytest.fixture
def ddb_proxy(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    with running(FaultProxy(moto_endpoint)) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
        yield proxy


def later(seconds: float) -> Any:
    """A clock running `seconds` ahead: moto's instances launched just now look that old."""
    return lambda: time.time() + seconds
