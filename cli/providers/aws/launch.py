"""Launching one instance: check the type, pick the AMI and a placement with a way out, check that the client
can reach port 22 there (nothing is launched otherwise), render user-data, find capacity.

`run_instances_params` is pure (tested on its own); `launch` does the calls. Every RunInstances carries the
wb tags (IAM refuses a launch without them), IMDSv2 with instance tags in metadata, shutdown = terminate,
and a ClientToken per attempt, resent unchanged when a throttle or a lost answer is retried (launch_retry),
so a retried call can never start a second machine.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weatherballoon.lambdas import tags as wb_tags
from weatherballoon.lambdas.records import Market

from ...aws_account.errors import translated
from ...aws_account.session import AwsSession
from . import capacity, catalog, images, keys, launch_retry, network, reachability, userdata
from .plane import ControlPlane


@dataclass(frozen=True)
class LaunchPlan:
    instance_type: str
    image_id: str
    root_device_name: str
    root_volume_gb: int
    group_id: str
    subnets: Mapping[str, str]
    instance_profile: str
    user_data: bytes  # gzip (userdata.pack)
    labels: Mapping[str, str]
    key_name: str | None = None
    public_ip: bool = True
    # A gang (`wb run --nodes N`): N machines in one call (all or none), in the gang's own group besides the
    # stack's, and in its cluster placement group where the type supports one (gang_network.py).
    count: int = 1
    extra_group_ids: tuple[str, ...] = ()
    placement_group: str | None = None


@dataclass(frozen=True)
class Launched:
    instance_id: str
    zone: str
    market: Market
    launched_at: float
    price_usd_hour: float
    image_id: str
    launch_index: int = 0  # AmiLaunchIndex: the machine's place among those one call started (a gang's rank)


def run_instances_params(plan: LaunchPlan, attempt: capacity.Attempt, token: str) -> dict[str, Any]:
    profile_key = "Arn" if plan.instance_profile.startswith("arn:") else "Name"
    params: dict[str, Any] = {
        "ImageId": plan.image_id,
        "InstanceType": plan.instance_type,
        "MinCount": plan.count,
        "MaxCount": plan.count,
        "ClientToken": token,
        "UserData": plan.user_data,
        "InstanceInitiatedShutdownBehavior": "terminate",
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "InstanceMetadataTags": "enabled"},
        "TagSpecifications": wb_tags.tag_specifications(plan.labels),
        "IamInstanceProfile": {profile_key: plan.instance_profile},
        "BlockDeviceMappings": [
            {
                "DeviceName": plan.root_device_name,
                "Ebs": {"VolumeSize": plan.root_volume_gb, "VolumeType": "gp3", "DeleteOnTermination": True},
            }
        ],
        "NetworkInterfaces": [
            {
                "DeviceIndex": 0,
                "SubnetId": plan.subnets[attempt.zone],
                "Groups": [plan.group_id, *plan.extra_group_ids],
                "AssociatePublicIpAddress": plan.public_ip,
                "DeleteOnTermination": True,
            }
        ],
    }
    if plan.key_name:
        params["KeyName"] = plan.key_name
    if plan.placement_group:
        params["Placement"] = {"GroupName": plan.placement_group}
    if attempt.market is Market.SPOT:
        params["InstanceMarketOptions"] = {
            "MarketType": "spot",
            "SpotOptions": {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"},
        }
    return params


def spot_prices(ec2: Any, instance_type: str) -> dict[str, float]:
    """The current Linux spot price per zone (the newest entry of each)."""
    newest: dict[str, tuple[float, float]] = {}
    with translated(denied_hint="you need ec2:DescribeSpotPriceHistory"):
        answer = ec2.describe_spot_price_history(
            InstanceTypes=[instance_type], ProductDescriptions=["Linux/UNIX"], StartTime=time.time()
        )
    for entry in answer.get("SpotPriceHistory", []):
        stamp = entry["Timestamp"].timestamp()
        zone = entry["AvailabilityZone"]
        if zone not in newest or stamp > newest[zone][0]:
            newest[zone] = (stamp, float(entry["SpotPrice"]))
    return {zone: price for zone, (_, price) in newest.items()}


@dataclass(frozen=True)
class LaunchRequest:
    """What the provider decided to launch (everything from config, flags and the stack)."""

    instance_type: str
    spot: bool
    boot: userdata.BootInputs
    labels: Mapping[str, str]
    group: str
    group_configured: bool
    instance_profile: str
    root_volume_gb: int
    ami: str | None
    key_pair: str | None
    public_ip: bool
    config_path: str | None = None
    subnet: str | None = None  # provisioner.subnet
    pushed_keys: bool = False  # eice: each connection pushes its own key; the machine gets none at launch

    @property
    def connect(self) -> str:
        return "public-ip" if self.public_ip else "private-ip"


@dataclass(frozen=True)
class Prepared:
    """Everything checked and decided before the first RunInstances: the plan and where to try it."""

    plan: LaunchPlan
    where: network.Placement
    zones: list[str]
    spot_prices: dict[str, float]
    on_demand_usd_hour: float
    allowed: list[str]
    pair: keys.KeyPair | None
    spot: bool


def prepare(
    plane: ControlPlane, request: LaunchRequest, *, boot_source: Callable[[], str], say: Callable[[str], None]
) -> Prepared:
    """Check the type, pick the AMI and a placement with a way out, check reachability, render user-data."""
    ec2 = plane.ec2
    region = plane.region
    kind = catalog.describe_type(ec2, request.instance_type, region)
    allowed = plane.allowed_types()
    catalog.check_allowed(request.instance_type, allowed, region)
    on_demand = catalog.on_demand_price(region, request.instance_type)
    if request.ami:
        image = images.configured_image(ec2, request.ami, request.config_path)
    else:
        image = images.latest_dlami(ec2, kind.architectures, region)
    plane.check_root_volume(max(request.root_volume_gb, image.root_snapshot_gb))
    where = network.placement(ec2, request.group, configured=request.group_configured, connect=request.connect,
                              subnet=request.subnet, say=say)  # fmt: skip
    reachability.check(where.group_id, where.ssh, request.connect, where.vpc_cidrs, say=say)
    zones = [zone for zone in catalog.zones_offering(ec2, request.instance_type) if zone in where.subnets]
    prices = spot_prices(ec2, request.instance_type) if request.spot else {}
    pair = None if request.key_pair or request.pushed_keys else keys.generate()
    boot = dataclasses.replace(request.boot, authorized_key=pair.public_line if pair else None)
    plan = LaunchPlan(
        instance_type=request.instance_type,
        image_id=image.image_id,
        root_device_name=image.root_device_name,
        root_volume_gb=max(request.root_volume_gb, image.root_snapshot_gb),
        group_id=where.group_id,
        subnets=where.subnets,
        instance_profile=request.instance_profile,
        user_data=userdata.pack(userdata.render(boot, boot_source())),
        labels=request.labels,
        key_name=request.key_pair,
        public_ip=request.public_ip,
    )
    return Prepared(plan, where, zones, prices, on_demand, list(allowed), pair, request.spot)


def start(
    plane: ControlPlane, prepared: Prepared, *, say: Callable[[str], None], what: str
) -> tuple[list[Launched], Path | None]:
    """RunInstances over the capacity search; every machine of the answer, by launch index, and the ephemeral
    private key's path (the same key for all of them; None with a keyPair)."""
    plan = prepared.plan
    # No botocore retries (its `max_attempts` counts retries): a capacity error, which EC2 answers with a 5xx,
    # must move on to the next zone at once instead of being retried in place. Throttles and lost answers are
    # retried by launch_retry, with the attempt's ClientToken.
    once = AwsSession(dataclasses.replace(plane.aws.settings, max_attempts=0), boto_session=plane.aws.boto)
    launcher = once.client("ec2")

    def attempt_launch(attempt: capacity.Attempt) -> dict[str, Any]:
        params = run_instances_params(plan, attempt, secrets.token_hex(16))  # one token per attempt, kept on retries
        answer: dict[str, Any] = launch_retry.call_idempotent(
            lambda: launcher.run_instances(**params), what=f"RunInstances ({attempt})", say=say
        )
        return answer

    attempt, answer, _ = capacity.search(
        capacity.plan_attempts(prepared.spot, prepared.zones, prepared.spot_prices),
        attempt_launch,
        say=say,
        what=what,
        alternatives=catalog.alternatives(plan.instance_type, prepared.allowed),
    )
    on_demand = prepared.on_demand_usd_hour
    price = prepared.spot_prices.get(attempt.zone, on_demand) if attempt.market is Market.SPOT else on_demand
    launched = sorted(
        (
            Launched(
                instance_id=str(raw["InstanceId"]),
                zone=attempt.zone,
                market=attempt.market,
                launched_at=raw["LaunchTime"].timestamp(),
                price_usd_hour=price,
                image_id=plan.image_id,
                launch_index=int(raw.get("AmiLaunchIndex", 0)),
            )
            for raw in answer["Instances"]
        ),
        key=lambda machine: machine.launch_index,
    )
    key_path = None
    for machine in launched:
        if prepared.pair is not None:
            key_path = keys.save(machine.instance_id, prepared.pair)
    return launched, key_path


def launch(
    plane: ControlPlane,
    request: LaunchRequest,
    *,
    boot_source: Callable[[], str],
    say: Callable[[str], None],
) -> tuple[Launched, Path | None]:
    """Start one instance; returns it and the path of its ephemeral private key (None with a keyPair)."""
    prepared = prepare(plane, request, boot_source=boot_source, say=say)
    launched, key_path = start(plane, prepared, say=say, what=f"{request.instance_type} in {plane.region}")
    return launched[0], key_path
