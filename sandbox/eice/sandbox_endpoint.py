"""The sandbox's endpoint, as the daemon starts it: an id and a security group in the sandbox VPC (moto), TLS
with the sandbox's certificate, tunnels only to the VPC's addresses, listed for DescribeInstanceConnectEndpoints."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator, Mapping
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from ..layout import Layout
from ..records import DUMMY_KEY_ID, DUMMY_SECRET, SandboxOptions
from .endpoint import SandboxEndpoint
from .tls import make_certificate, server_context


class KnownSecrets(Mapping[str, str]):
    """The sandbox's own key, and every key moto's IAM has handed out since (launchers/moto_server.py)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _all(self) -> dict[str, str]:
        known = {DUMMY_KEY_ID: DUMMY_SECRET}
        with contextlib.suppress(OSError):
            for line in self.path.read_text().splitlines():
                key_id, _, secret = line.partition(" ")
                if key_id and secret:
                    known[key_id] = secret
        return known

    def __getitem__(self, key_id: str) -> str:
        return self._all()[key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def _inside(block: IPv4Network, address: str) -> bool:
    try:
        return IPv4Address(address) in block
    except ValueError:
        return False


def start_endpoint(
    layout: Layout, ec2: Any, vpc_id: str, block: IPv4Network, options: SandboxOptions
) -> SandboxEndpoint:
    group = ec2.create_security_group(
        GroupName="wb-sandbox-eice", Description="Sandbox Instance Connect Endpoint", VpcId=vpc_id
    )["GroupId"]
    cert, key = make_certificate(layout.eice_dir)
    endpoint = SandboxEndpoint(
        f"eice-{secrets.token_hex(9)[:17]}",
        options.region,
        KnownSecrets(layout.eice_dir / "access-keys"),
        lambda address: _inside(block, address),
        tls=server_context(cert, key),
        cut_file=layout.eice_dir / "cut-after-seconds",
    )
    endpoint.group_id = str(group)
    endpoint.cut_after_s = options.tunnel_max_s
    endpoint.start()
    listing = [{"id": endpoint.endpoint_id, "dns": endpoint.dns_name, "vpc": vpc_id, "groups": [endpoint.group_id]}]
    (layout.eice_dir / "endpoints.json").write_text(json.dumps(listing))
    return endpoint
