"""A real moto server subprocess on localhost, spoken to over HTTP (DESIGN §8).

It is the sandbox's launcher (`weatherballoon.sandbox.launchers.moto`: moto with the fixes that make it answer
as AWS does where wb depends on it, such as atomic DynamoDB conditional writes), so tests and the sandbox run
the same emulator."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from weatherballoon.sandbox.launchers import moto
from weatherballoon.sandbox.launchers.ports import free_port

__all__ = ["DUMMY_CREDENTIALS", "apply_env", "aws_env", "free_port", "moto_server", "reset", "route_out_through_a_nat"]

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-west-2",
    "AWS_REGION": "us-west-2",
}


@contextmanager
def moto_server() -> Iterator[str]:
    """Start the moto server on 127.0.0.1 and yield `http://localhost:PORT` (the host part matters for S3)."""
    port = free_port()
    proc = moto.start(port, timeout=30)
    try:
        yield moto.url_of(port)
    finally:
        moto.stop(proc, timeout=5)


def reset(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).close()


def aws_env(url: str) -> dict[str, str]:
    """Environment for a process (or this one) that must talk only to the moto server."""
    env = dict(DUMMY_CREDENTIALS)
    env["AWS_ENDPOINT_URL"] = url
    env.pop("AWS_PROFILE", None)
    return env


def apply_env(env: dict[str, str]) -> dict[str, str | None]:
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    return previous


def route_out_through_a_nat(ec2: Any, vpc_id: str | None = None) -> str:
    """Give a moto VPC (the default one unless named) what a private subnet needs to reach AWS and PyPI: a NAT
    gateway and a 0.0.0.0/0 route to it in the VPC's main route table (moto's VPCs have only the local route).
    Returns the NAT gateway's id."""
    if vpc_id is None:
        vpc_id = next(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v.get("IsDefault"))
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"][0]["SubnetId"]
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=allocation)["NatGateway"]["NatGatewayId"]
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    main = next(t for t in tables if any(a.get("Main") for a in t.get("Associations", [])))
    ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    return str(nat)
