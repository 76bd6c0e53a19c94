"""The `.weatherballoon.json` schema (DESIGN §4), in pydantic: it validates; `model.py` holds the result.

Keys are camelCase in the file, as in the seed sample."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .model import HOST_PATTERN


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class OsSchema(_Strict):
    ami: str | None = None
    username: str = "ubuntu"


class ProvisionerSchema(_Strict):
    kind: str
    region: str | None = None
    group1: str | None = None
    key_pair: str | None = Field(None, alias="keyPair")
    os: OsSchema = Field(default_factory=OsSchema)
    instance_type: str = Field("g5.xlarge", alias="instanceType")
    spot: bool = False
    cred: str | None = None
    role_of_instance: str | None = Field(None, alias="roleOfInstance")
    connect: Literal["public-ip", "private-ip"] = "public-ip"
    subnet: str | None = Field(None, pattern=r"^subnet-[0-9a-f]{8,17}$")
    root_volume_gb: int = Field(100, alias="rootVolumeGb", ge=8, le=16384)
    team: str = "default"
    hosts: list[str] = []
    identity_file: str | None = Field(None, alias="identityFile")
    known_hosts_file: str = Field("~/.ssh/known_hosts", alias="knownHostsFile")
    host_key_policy: Literal["strict", "accept-new"] = Field("strict", alias="hostKeyPolicy")

    @field_validator("hosts")
    @classmethod
    def _hosts_are_user_at_host_port(cls, hosts: list[str]) -> list[str]:
        for entry in hosts:
            match = HOST_PATTERN.match(entry)
            if not match or (match["port"] and not 0 < int(match["port"]) < 65536):
                raise ValueError(f"{entry!r} is not of the form user@host:port")
        return hosts


class SyncSchema(_Strict):
    adir_local: str | None = Field(None, alias="adirLocal")
    file_excludes: list[str] | None = Field(None, alias="fileExcludes")
    adir_server: str | None = Field(None, alias="adirServer")
    dir_storage: str | None = Field(None, alias="dirStorage")
    outputs: list[str] = []


class SupervisionSchema(_Strict):
    lease_minutes: float = Field(5.0, alias="leaseMinutes", gt=0)
    idle_minutes: float = Field(10.0, alias="idleMinutes", ge=0)
    max_hours: float = Field(24.0, alias="maxHours", gt=0)
    max_cost_usd: float | None = Field(None, alias="maxCostUsd", gt=0)


class WbConfigSchema(_Strict):
    version: Literal[1] = 1
    provisioner: ProvisionerSchema
    tag: str = "weatherballoon"
    sync: SyncSchema = Field(default_factory=SyncSchema)
    supervision: SupervisionSchema = Field(default_factory=SupervisionSchema)


def known_keys(model: type[BaseModel]) -> list[str]:
    """The file spellings (aliases) of a model's keys."""
    return [field.alias or name for name, field in model.model_fields.items()]


def submodel_at(path: tuple[str, ...]) -> type[BaseModel] | None:
    """The model that holds the keys at a dotted path of file keys, e.g. ("provisioner", "os")."""
    model: type[BaseModel] = WbConfigSchema
    for part in path:
        for name, field in model.model_fields.items():
            if (field.alias or name) == part:
                annotation = field.annotation
                if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                    model = annotation
                    break
                return None
        else:
            return None
    return model
