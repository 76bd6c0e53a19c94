"""A real moto server subprocess on localhost, spoken to over HTTP (DESIGN §8)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-west-2",
    "AWS_REGION": "us-west-2",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """Start the moto server on 127.0.0.1 and yield `http://localhost:PORT` (the host part matters for S3).

    It is the sandbox's launcher (moto with the fixes that make it answer as AWS does where wb depends on it,
    such as atomic DynamoDB conditional writes), so tests and the sandbox run the same emulator."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "weatherballoon.cli.sandbox.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server on port {port} did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


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
