"""`Fleet` on EC2: paginated DescribeInstances filtered on the wb tag, batched TerminateInstances."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import tags
from .decision import InstanceFacts
from .fleet import Fleet, failure
from .lazy_client import LazyClient

# Not terminated: shutting-down is included so a retried termination is seen as already under way.
DESCRIBED_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
PAGE_SIZE = 1000


def partition_for(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


class Ec2Fleet(LazyClient, Fleet):
    """Pass `client` (a boto3 EC2 client) or `session`; the client is built on first use otherwise."""

    service = "ec2"

    def describe_managed(self) -> list[InstanceFacts]:
        from botocore.exceptions import BotoCoreError, ClientError

        region = self.client.meta.region_name
        found: list[InstanceFacts] = []
        try:
            pages = self.client.get_paginator("describe_instances").paginate(
                Filters=[tags.MANAGED_FILTER, {"Name": "instance-state-name", "Values": DESCRIBED_STATES}],
                PaginationConfig={"PageSize": PAGE_SIZE},
            )
            for page in pages:
                for reservation in page.get("Reservations", []):
                    account = reservation.get("OwnerId", "")
                    found.extend(self._facts(i, region, account) for i in reservation.get("Instances", []))
        except (ClientError, BotoCoreError) as exc:
            raise failure("DescribeInstances", exc) from exc
        return found

    @staticmethod
    def _facts(instance: dict[str, Any], region: str, account: str) -> InstanceFacts:
        launched = instance.get("LaunchTime")
        return InstanceFacts(
            instance_id=instance["InstanceId"],
            state=instance.get("State", {}).get("Name", "unknown"),
            launched_at=launched.timestamp() if isinstance(launched, datetime) else 0.0,
            instance_type=instance.get("InstanceType", ""),
            region=region,
            account=account,
            tags=tags.tags_from_aws(instance.get("Tags")),
            spot=instance.get("InstanceLifecycle") == "spot",
            partition=partition_for(region),
        )

    def _terminate_batch(self, ids: list[str]) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.terminate_instances(InstanceIds=ids)
        except (ClientError, BotoCoreError) as exc:
            raise failure("TerminateInstances", exc) from exc
        return [i["InstanceId"] for i in response.get("TerminatingInstances", [])]
