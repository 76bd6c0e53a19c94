"""The aws provider against a moto server with the real stack bootstrapped into it (once per session).

Bootstrapping takes ~5 s, so it happens once, in a moto server of this module's own; each test then starts
from a clean slate (every instance terminated, the table and the outputs bucket emptied, its own data
dir). Instances that earlier tests terminated stay visible in moto as `terminated`: tests look only at
the instances they launched.

`BootEmulator` stands in for cloud-init on the instances moto "launches": for each new instance it takes
the boot program out of the instance's user-data and runs it (the real boot.py, verbatim) with the
identity IMDS would give, so the host key fingerprint reaches the row as on EC2. No test ever
connects to an instance: moto's addresses are not real hosts.
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from weatherballoon.cli.aws_account.stack import STACK_NAME, StackInfo, describe_stack
from weatherballoon.cli.config.loader import LoadedConfig, load_config
from weatherballoon.cli.main import run_cli
from weatherballoon.cli.providers.aws import AwsProvider
from weatherballoon.cli.providers.aws.userdata import boot_source_in, unpack
from weatherballoon.lambdas.dynamo_codec import key

from tests.support.moto_server import aws_env, moto_server, route_out_through_a_nat
from tests.support.sshd import keygen

REGION = "us-west-2"
ACCOUNT = "123456789012"
ME = "AKIAIOSFODNN7EXAMPLE"  # moto's aws:userid for the dummy credentials
DEFAULT_VPC = "172.31.0.0/16"  # moto's default VPC in every region


@dataclass(frozen=True)
class Deployed:
    url: str
    env: dict[str, str]
    stack: StackInfo

    @property
    def table(self) -> str:
        return self.stack.outputs["TableName"]

    @property
    def bucket(self) -> str:
        return self.stack.outputs["BucketName"]


@pytest.fixture(scope="session")
def deployed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    with moto_server() as url, pytest.MonkeyPatch.context() as patch:
        env = aws_env(url)
        for name, value in env.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        patch.setenv("WB_DATA_DIR", str(tmp_path_factory.mktemp("bootstrap-data")))
        patch.chdir(tmp_path_factory.mktemp("anywhere"))
        # The tests connect by private IP (they never do: moto's hosts are not real): the group admits the
        # default VPC, whose subnets get a way out through a NAT gateway, as such a VPC needs (routes.py).
        assert run_cli(["-q", "bootstrap", "--ssh-cidr", DEFAULT_VPC]) == 0
        route_out_through_a_nat(boto3.client("ec2"))
        stack = describe_stack(boto3.client("cloudformation"), STACK_NAME)
        assert stack is not None
        yield Deployed(url, env, stack)


def _clean(deployed: Deployed) -> None:
    ec2 = boto3.client("ec2")
    live = [
        i["InstanceId"]
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    ]
    if live:
        ec2.terminate_instances(InstanceIds=live)
    dynamodb = boto3.client("dynamodb")
    for page in dynamodb.get_paginator("scan").paginate(TableName=deployed.table):
        for item in page["Items"]:
            dynamodb.delete_item(TableName=deployed.table, Key=key(item["pk"]["S"], item["sk"]["S"]))
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=deployed.bucket):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=deployed.bucket, Key=obj["Key"])


@dataclass
class World:
    deployed: Deployed
    tmp: Path
    messages: list[str] = field(default_factory=list)

    def project(
        self, name: str = "proj", supervision: dict[str, Any] | None = None, **provisioner: Any
    ) -> LoadedConfig:
        root = self.tmp / name
        root.mkdir(exist_ok=True)
        settings = {"kind": "aws", "region": REGION, "instanceType": "g5.xlarge", "connect": "private-ip"}
        config = {"provisioner": {**settings, **provisioner}, "tag": "wb-test", "supervision": supervision or {}}
        (root / ".weatherballoon.json").write_text(json.dumps(config))
        return load_config(cwd=root)

    def provider(self, loaded: LoadedConfig | None = None, **kwargs: Any) -> AwsProvider:
        loaded = loaded or self.project()
        kwargs.setdefault("boot_timeout_s", 20.0)
        kwargs.setdefault("say", self.messages.append)
        return AwsProvider(loaded.config, loaded, **kwargs)


@pytest.fixture
def world(deployed_stack: Deployed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    for name, value in deployed_stack.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("WB_DATA_DIR", str(tmp_path / "data"))
    for name in list(os.environ):
        if name.startswith("WB_") and name != "WB_DATA_DIR":
            monkeypatch.delenv(name)
    _clean(deployed_stack)
    return World(deployed_stack, tmp_path)


class BootEmulator:
    """Runs the boot program of every instance moto launches, as cloud-init would (see the module doc)."""

    def __init__(self, deployed: Deployed, workdir: Path, *, delay_s: float = 0.0) -> None:
        self.deployed = deployed
        self.workdir = workdir
        self.delay_s = delay_s
        workdir.mkdir(parents=True, exist_ok=True)
        self.host_key = workdir / "ssh_host_ed25519_key"
        keygen(self.host_key)
        self.booted: dict[str, dict[str, str]] = {}  # instance id -> what boot.py reports
        self.failed: dict[str, Exception] = {}
        self.user_data: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="boot-emulator", daemon=True)
        self._ec2 = boto3.client("ec2")

    @property
    def fingerprint(self) -> str:
        from weatherballoon.remote.boot import fingerprint

        return fingerprint(self.host_key.with_suffix(".pub").read_text())

    def result(self, instance_id: str, timeout_s: float = 30.0) -> dict[str, str]:
        """What the boot program reported on that instance, once it has finished."""
        deadline = time.monotonic() + timeout_s
        while instance_id not in self.booted and time.monotonic() < deadline:
            if instance_id in self.failed:
                raise self.failed[instance_id]
            time.sleep(0.05)
        return self.booted[instance_id]

    def __enter__(self) -> BootEmulator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            filters = [{"Name": "instance-state-name", "Values": ["pending", "running"]}]
            for reservation in self._ec2.describe_instances(Filters=filters)["Reservations"]:
                for instance in reservation["Instances"]:
                    if instance["InstanceId"] not in self.user_data:
                        self._boot(instance["InstanceId"])

    def _boot(self, instance_id: str) -> None:
        if self._stop.wait(self.delay_s):
            return
        answer = self._ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
        user_data = unpack(base64.b64decode(answer["UserData"]["Value"]))  # gzip, as cloud-init receives it
        self.user_data[instance_id] = user_data
        folder = self.workdir / instance_id
        folder.mkdir()
        (folder / "user-data").write_text(user_data)
        env = {
            **self.deployed.env,
            "WB_INSTANCE_ID": instance_id,
            "WB_REGION": REGION,
            "WB_ACCOUNT": ACCOUNT,
            "WB_USER": getpass.getuser(),
            "WB_USER_DATA": str(folder / "user-data"),
            "WB_HOST_KEY_PUB": str(self.host_key.with_suffix(".pub")),
            "WB_AGENT_HOME": str(folder / "home"),
            "WB_BOOT_WAIT_S": "10",
        }
        # The boot program exactly as the user-data carries it, run in this process (a python start plus a
        # boto3 import per instance would cost ~1 s; the program takes its environment as a dict).
        namespace: dict[str, Any] = {"__name__": "wb_boot_" + instance_id.replace("-", "_")}
        exec(compile(boot_source_in(user_data), str(folder / "boot.py"), "exec"), namespace)
        try:
            self.booted[instance_id] = namespace["Boot"](env).run()
        except Exception as exc:
            self.failed[instance_id] = exc


@pytest.fixture
def booting(world: World) -> Iterator[BootEmulator]:
    with BootEmulator(world.deployed, world.tmp / "instances") as emulator:
        yield emulator


def instance_row(deployed: Deployed, instance_id: str) -> dict[str, Any]:
    from weatherballoon.lambdas.dynamo_codec import from_wire
    from weatherballoon.lambdas.schema import instance_arn, instance_pk

    item = boto3.client("dynamodb").get_item(
        TableName=deployed.table, Key=key(instance_pk(ME, instance_arn(REGION, ACCOUNT, instance_id)), "META")
    )
    return from_wire(item.get("Item", {}))


Say = Callable[[str], None]
