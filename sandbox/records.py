"""Typed records the daemon writes and the CLI reads, as small JSON files replaced atomically."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

DEFAULT_REGION = "us-west-2"
DEFAULT_INSTANCE_TYPE = "g5.xlarge"
DUMMY_KEY_ID = "testing"
DUMMY_SECRET = "testing"

T = TypeVar("T")


@dataclass(frozen=True)
class SandboxOptions:
    """What `wb sandbox up` was asked for. Minutes may be fractions (0.1 is 6 s)."""

    reaper_period_s: float = 60.0
    lease_minutes: float = 5.0
    idle_minutes: float = 10.0
    region: str = DEFAULT_REGION
    instance_type: str = DEFAULT_INSTANCE_TYPE
    stack: bool = True  # False: an account with no wb stack yet, as a new AWS account is (`up --no-stack`)
    tunnel_max_s: float | None = None  # the endpoint ends every tunnel after this long (a fault to test)

    @property
    def renew_seconds(self) -> float:
        return renew_seconds(self.lease_minutes)


def renew_seconds(lease_minutes: float) -> float:
    """The agent's renewal period, compressed with the lease: 30 s for a 5-minute lease, never under 1 s."""
    return round(min(30.0, max(1.0, lease_minutes * 6.0)), 3)


@dataclass(frozen=True)
class SandboxState:
    """The daemon's own account of itself. `phase`: starting, ready, failed, stopping."""

    sandbox_id: str
    daemon_pid: int
    started_at: float
    options: SandboxOptions
    phase: str = "starting"
    step: str = "starting the sandbox daemon"
    message: str | None = None
    port: int | None = None
    moto_pid: int | None = None
    account: str | None = None  # the login account of every host
    account_created: bool = False
    gateway: str | None = None  # the control plane's address as hosts see it
    network: str | None = None  # the sandbox VPC's range: instances' private IPs
    vpc_id: str | None = None  # the sandbox VPC (not moto's default VPC): `WB_VPC_ID` in `wb sandbox env`
    opt_created: bool = False  # the daemon made /opt/wb (a mount point) and removes it again
    table_name: str | None = None
    bucket: str | None = None
    eice_id: str | None = None  # the sandbox's EC2 Instance Connect Endpoint
    ca_bundle: str | None = None  # its TLS certificate: AWS_CA_BUNDLE in `wb sandbox env`

    @property
    def endpoint(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def host_endpoint(self) -> str:
        """The endpoint from inside a host's namespace (a relay on the gateway address to moto)."""
        return f"http://{self.gateway}:{self.port}"

    @property
    def namespace_prefix(self) -> str:
        return f"wbsbx-{self.sandbox_id}-"

    @property
    def link_prefix(self) -> str:
        return f"wb{self.sandbox_id}"

    def replace(self, **changes: Any) -> SandboxState:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxState:
        values = dict(data)
        values["options"] = SandboxOptions(**values.get("options", {}))
        return cls(**values)


@dataclass(frozen=True)
class HostRecord:
    """One instance's host. `state`: creating, booting, ready, failed, skipped; after it ends: terminated,
    powered-off. `reason` says why it failed, was skipped or ended."""

    instance_id: str
    private_ip: str
    namespace: str | None = None
    user: str | None = None
    state: str = "creating"
    reason: str | None = None
    fingerprint: str | None = None
    created_at: float = 0.0
    ready_at: float | None = None
    ended_at: float | None = None
    deadline: float | None = None  # the next known power-off (dead-man timer or `shutdown -h`), epoch seconds

    def replace(self, **changes: Any) -> HostRecord:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostRecord:
        return cls(**data)


@dataclass(frozen=True)
class HostTable:
    live: list[HostRecord] = field(default_factory=list)
    ended: list[HostRecord] = field(default_factory=list)  # the most recent ones, newest last

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostTable:
        return cls(
            [HostRecord.from_dict(h) for h in data.get("live", [])],
            [HostRecord.from_dict(h) for h in data.get("ended", [])],
        )


@dataclass(frozen=True)
class ReaperStatus:
    period_s: float
    runs: int = 0
    last_run_at: float | None = None
    last_ok: bool | None = None
    last_error: str | None = None
    last_counts: dict[str, int] = field(default_factory=dict)
    terminated: dict[str, str] = field(default_factory=dict)  # every instance it terminated -> reason

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReaperStatus:
        return cls(**data)


def write_json(path: Path, record: object) -> None:
    """Replace `path` atomically with the record as JSON (readers never see half a file)."""
    data = dataclasses.asdict(record) if dataclasses.is_dataclass(record) else record  # type: ignore[arg-type]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
