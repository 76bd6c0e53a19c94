"""A sandbox driven through the real `wb` binary, and instances launched into it the way the aws provider
launches them (docs/aws.md): wb's tags, a user-data with the markers and the real boot program,
`InstanceInitiatedShutdownBehavior=terminate`, and the instance row the client writes right after launch."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from weatherballoon.cli.providers.aws.userdata import BootInputs, boot_program, pack, render
from weatherballoon.lambdas import schema, tags
from weatherballoon.lambdas.dynamo_store import DynamoStore
from weatherballoon.lambdas.records import InstanceRecord, InstanceState

from tests.support.project import WB

REMOTE = Path(__file__).resolve().parents[3] / "remote"
IMAGE = "ami-03cf127a"  # one of moto's bundled images


def user_data(*, user: str, key: str | None, table: str, bucket: str, lease_minutes: float) -> str:
    """The user-data the aws provider renders (the real one: root setup, boot program, units)."""
    inputs = BootInputs(username=user, table=table, bucket=bucket, region="us-west-2", lease_minutes=lease_minutes,
                        idle_minutes=0.1, max_hours=1, renew_seconds=1.2, authorized_key=key)  # fmt: skip
    return render(inputs, boot_program())


def legacy_user_data(*, user: str, key: str | None, table: str, bucket: str, lease_minutes: float, arm: int) -> str:
    """What the aws provider rendered before the dead-man timer: `shutdown -h +N` at boot, no sudo grant."""
    lines = ["#!/bin/bash"]
    if key:
        lines.append(f"# wb:authorized-key {key}")
    lines += [
        f"# wb:user {user}",
        f"# wb:table {table}",
        f"# wb:bucket {bucket}",
        f"# wb:lease-minutes {lease_minutes:g}",
        f'shutdown -h +{arm} "wb: dead-man timer armed at boot" || true',
        "cat > /opt/wb/boot.py <<'WB_BOOT'",
        (REMOTE / "boot.py").read_text().rstrip("\n"),
        "WB_BOOT",
        "/opt/wb/venv/bin/python /opt/wb/boot.py",
        "",
    ]
    return "\n".join(lines)


@dataclass
class Sandbox:
    data_dir: Path
    cwd: Path
    exported: dict[str, str] = field(default_factory=dict)

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WB_", "AWS_"))}
        env.update({"WB_DATA_DIR": str(self.data_dir), "PYTHONUNBUFFERED": "1"})
        return env

    def wb(self, *args: str, timeout: float = 120, exported: bool = False) -> subprocess.CompletedProcess[str]:
        env = self.base_env()
        if exported:
            env.update(self.exported)
        return subprocess.run(
            [WB, *args], cwd=self.cwd, env=env, capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip

    @property
    def root(self) -> Path:
        return self.data_dir / "sandbox"

    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.root / "sandbox.json").read_text()))

    def hosts(self) -> dict[str, Any]:
        path = self.root / "hosts.json"
        return dict(json.loads(path.read_text())) if path.exists() else {"live": [], "ended": []}

    def live_host(self, instance_id: str) -> dict[str, Any] | None:
        return next((h for h in self.hosts()["live"] if h["instance_id"] == instance_id), None)

    def ended_host(self, instance_id: str) -> dict[str, Any] | None:
        return next((h for h in self.hosts()["ended"] if h["instance_id"] == instance_id), None)

    def session(self) -> Any:
        return boto3.session.Session(
            aws_access_key_id=self.exported["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.exported["AWS_SECRET_ACCESS_KEY"],
            region_name=self.exported["AWS_REGION"],
        )

    def client(self, service: str) -> Any:
        return self.session().client(service, endpoint_url=self.exported["AWS_ENDPOINT_URL"])

    def read_exports(self) -> dict[str, str]:
        """`wb sandbox env`, as `eval` would apply it (export lines; `unset` and comments skipped)."""
        result = self.wb("sandbox", "env")
        assert result.returncode == 0, result.stderr
        exported = {}
        for line in result.stdout.splitlines():
            if line.startswith("export "):
                key, _, value = line[len("export ") :].partition("=")
                exported[key] = value.strip("'")
        self.exported = exported
        return exported


@dataclass(frozen=True)
class Launched:
    instance_id: str
    private_ip: str
    arn: str
    owner: str


def launch(sandbox: Sandbox, data: str, *, lease_s: float = 600.0, row: bool = True) -> Launched:
    """RunInstances into the sandbox VPC with wb's tags (the user-data gzip-packed, as the provider sends
    it), then the launching row, as `wb run` does."""
    ec2 = sandbox.client("ec2")
    state = sandbox.state()
    owner = sandbox.client("sts").get_caller_identity()["UserId"]
    subnets = ec2.describe_subnets()["Subnets"]
    subnet = next(s["SubnetId"] for s in subnets if _inside(s["CidrBlock"], state["network"]))
    wb_tags = tags.wb_tags(owner, "default", "sandbox-test", "weatherballoon")
    answer = ec2.run_instances(
        ImageId=IMAGE, MinCount=1, MaxCount=1, InstanceType="g5.xlarge", UserData=pack(data), SubnetId=subnet,
        InstanceInitiatedShutdownBehavior="terminate",
        TagSpecifications=tags.tag_specifications(wb_tags, ("instance",)),
    )  # fmt: skip
    instance = answer["Instances"][0]
    arn = schema.instance_arn(ec2.meta.region_name, "123456789012", instance["InstanceId"])
    if row:
        now = time.time()
        store = DynamoStore(state["table_name"], client=sandbox.client("dynamodb"))
        store.create_instance(
            InstanceRecord(
                owner=owner,
                instance_arn=arn,
                instance_type="g5.xlarge",
                launched_at=now,
                lease_until=now + lease_s,
                max_until=now + 3600,
                price_usd_hour=1.006,
                team="default",
                project="sandbox-test",
                state=InstanceState.LAUNCHING,
            )
        )
    return Launched(instance["InstanceId"], instance["PrivateIpAddress"], arn, owner)


def _inside(cidr: str, network: str) -> bool:
    import ipaddress

    return ipaddress.IPv4Network(cidr).subnet_of(ipaddress.IPv4Network(network))


def instance_state(sandbox: Sandbox, instance_id: str) -> str:
    answer = sandbox.client("ec2").describe_instances(InstanceIds=[instance_id])
    return str(answer["Reservations"][0]["Instances"][0]["State"]["Name"])


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}
