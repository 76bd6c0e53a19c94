"""`Fleet` on EC2: paginated DescribeInstances filtered on the wb tag, batched TerminateInstances, the
ModifyInstanceAttribute calls that lift termination protection and kept volumes, DescribeSpotPriceHistory."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from . import schema, tags
from .decision import InstanceFacts
from .fleet import Fleet, SpotKey, failure
from .lazy_client import LazyClient

# Not terminated: shutting-down is included so a retried termination is seen as already under way.
DESCRIBED_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
PAGE_SIZE = 1000
SPOT_PRODUCT = "Linux/UNIX"


partition_for = schema.partition_of


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
        attached: list[float] = []
        kept: list[str] = []
        for mapping in instance.get("BlockDeviceMappings", []):
            ebs = mapping.get("Ebs") or {}
            if isinstance(ebs.get("AttachTime"), datetime):
                attached.append(ebs["AttachTime"].timestamp())
            if ebs.get("DeleteOnTermination") is False and mapping.get("DeviceName"):
                kept.append(str(mapping["DeviceName"]))
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
            zone=str(instance.get("Placement", {}).get("AvailabilityZone", "")),
            first_attached_at=min(attached) if attached else None,
            volumes_kept_on_termination=tuple(kept),
        )

    def _terminate_batch(self, ids: list[str]) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.terminate_instances(InstanceIds=ids)
        except (ClientError, BotoCoreError) as exc:
            raise failure("TerminateInstances", exc) from exc
        return [i["InstanceId"] for i in response.get("TerminatingInstances", [])]

    def allow_termination(self, instance_id: str) -> None:
        self._modify(instance_id, DisableApiTermination={"Value": False})

    def delete_volumes_on_termination(self, instance_id: str, device_names: Sequence[str]) -> None:
        mappings = [{"DeviceName": name, "Ebs": {"DeleteOnTermination": True}} for name in device_names]
        self._modify(instance_id, BlockDeviceMappings=mappings)

    def _modify(self, instance_id: str, **attribute: Any) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.modify_instance_attribute(InstanceId=instance_id, **attribute)
        except (ClientError, BotoCoreError) as exc:
            raise failure("ModifyInstanceAttribute", exc) from exc

    def spot_prices(self, wanted: Iterable[SpotKey]) -> dict[SpotKey, float]:
        """One DescribeSpotPriceHistory per instance type (all zones at once), newest entry per zone."""
        from botocore.exceptions import BotoCoreError, ClientError

        pairs = set(wanted)
        found: dict[SpotKey, tuple[float, float]] = {}
        for instance_type in sorted({kind for kind, _ in pairs}):
            try:
                pages = self.client.get_paginator("describe_spot_price_history").paginate(
                    InstanceTypes=[instance_type], ProductDescriptions=[SPOT_PRODUCT], StartTime=time.time()
                )
                for page in pages:
                    for entry in page.get("SpotPriceHistory", []):
                        key = (instance_type, str(entry.get("AvailabilityZone", "")))
                        stamp = entry["Timestamp"].timestamp() if isinstance(entry.get("Timestamp"), datetime) else 0.0
                        if key in pairs and (key not in found or stamp > found[key][0]):
                            found[key] = (stamp, float(entry["SpotPrice"]))
            except (ClientError, BotoCoreError) as exc:
                raise failure("DescribeSpotPriceHistory", exc) from exc
        return {key: price for key, (_, price) in found.items()}
