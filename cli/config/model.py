"""The validated configuration as plain typed records, free of pydantic.

The configuration lives in three places, each with one job:
- here, the records every layer reads: the keys (as Python names) and their defaults. This is the source;
- `schema.py`, the pydantic models that validate a file: the file's spelling of each key (camelCase,
  generated from the name), its type and its checks; every default is taken from these records;
- `cache.py`, validated results keyed by everything validation depends on, these two files included.
A warm `wb run` reads the cache and never imports pydantic (docs/benchmarks.md, "Client start-up").
`tests/unit/config/test_model.py` keeps the schema and these records in step, field for field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

HOST_PATTERN = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?P<host>\[[^\]]+\]|[^:@\s]+)(?::(?P<port>\d{1,5}))?$")


@dataclass(frozen=True)
class OsConfig:
    ami: str | None = None
    username: str = "ubuntu"


@dataclass(frozen=True)
class ProvisionerConfig:
    kind: str
    region: str | None = None
    group1: str | None = None
    key_pair: str | None = None
    os: OsConfig = field(default_factory=OsConfig)
    instance_type: str = "g5.xlarge"
    spot: bool = False
    cred: str | None = None
    role_of_instance: str | None = None
    # eice | public-ip | private-ip; None: eice when the stack has an Instance Connect Endpoint, else public-ip
    connect: str | None = None
    subnet: str | None = None
    root_volume_gb: int = 100
    team: str = "default"
    stack: str = "weatherballoon"
    hosts: tuple[str, ...] = ()
    identity_file: str | None = None
    known_hosts_file: str = "~/.ssh/known_hosts"
    host_key_policy: str = "strict"


@dataclass(frozen=True)
class SyncConfig:
    adir_local: str | None = None
    file_excludes: tuple[str, ...] | None = None
    adir_server: str | None = None
    dir_storage: str | None = None
    outputs: tuple[str, ...] = ()
    overwrite: bool = False


@dataclass(frozen=True)
class SupervisionConfig:
    lease_minutes: float = 5.0
    idle_minutes: float = 10.0
    max_hours: float = 24.0
    max_cost_usd: float | None = None
    max_output_mb: float = 4096.0

    @property
    def max_output_bytes(self) -> int:
        return int(self.max_output_mb * (1 << 20))


@dataclass(frozen=True)
class WbConfig:
    provisioner: ProvisionerConfig
    version: int = 1
    tag: str = "weatherballoon"
    sync: SyncConfig = field(default_factory=SyncConfig)
    supervision: SupervisionConfig = field(default_factory=SupervisionConfig)

    @classmethod
    def from_dump(cls, dump: Mapping[str, Any]) -> WbConfig:
        """From the schema's `model_dump()` (python field names); KeyError or TypeError when it does not fit."""
        return _record(cls, dump)


# The fields that hold a nested section, and its record.
SECTIONS: dict[str, type] = {
    "provisioner": ProvisionerConfig, "os": OsConfig, "sync": SyncConfig, "supervision": SupervisionConfig,
}  # fmt: skip


def _record(kind: type[T], raw: Mapping[str, Any]) -> T:
    """A section's record from its dump: nested sections become their records, lists tuples."""
    values: dict[str, Any] = {}
    for item in fields(kind):  # type: ignore[arg-type]
        value = raw[item.name]
        section = SECTIONS.get(item.name)
        if section is not None:
            value = _record(section, value)
        elif isinstance(value, list):
            value = tuple(value)
        values[item.name] = value
    return kind(**values)


@dataclass(frozen=True)
class LoadedConfig:
    config: WbConfig
    path: Path | None
    local_root: Path
    sources: dict[str, str] = field(default_factory=dict)
    # Every key's effective value by its dotted file spelling (e.g. "provisioner.instanceType").
    effective: dict[str, object] = field(default_factory=dict)

    @property
    def project(self) -> str:
        return self.local_root.name or "root"
