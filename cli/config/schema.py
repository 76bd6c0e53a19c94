"""The `.weatherballoon.json` schema (DESIGN §4), in pydantic: how the file spells each key (camelCase, as in
the seed sample, generated from the field's name), its type and its checks. The fields and their defaults
are the records' in `model.py` (see there for how the two and the cache fit together)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel
from weatherballoon.lambdas import limits
from weatherballoon.remote.sync.globs import outside_root

from .model import HOST_PATTERN, OsConfig, ProvisionerConfig, SupervisionConfig, SyncConfig, WbConfig

_SUPERVISION_RANGES = {
    "lease_minutes": limits.LEASE_MINUTES,
    "idle_minutes": limits.IDLE_MINUTES,
    "max_hours": limits.MAX_HOURS,
    "max_cost_usd": limits.JOB_MAX_COST_USD,
    "max_output_mb": limits.MAX_OUTPUT_MB,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, alias_generator=to_camel)


class OsSchema(_Strict):
    ami: str | None = OsConfig.ami
    username: str = OsConfig.username


_P = ProvisionerConfig


class ProvisionerSchema(_Strict):
    kind: str
    region: str | None = _P.region
    group1: str | None = _P.group1
    key_pair: str | None = _P.key_pair
    os: OsSchema = Field(default_factory=OsSchema)
    instance_type: str = _P.instance_type
    spot: bool = _P.spot
    cred: str | None = _P.cred
    role_of_instance: str | None = _P.role_of_instance
    connect: Literal["eice", "public-ip", "private-ip"] | None = _P.connect  # type: ignore[assignment]
    subnet: str | None = Field(_P.subnet, pattern=r"^subnet-[0-9a-f]{8,17}$")
    root_volume_gb: int = Field(_P.root_volume_gb, ge=8, le=16384)
    team: str = _P.team
    # CloudFormation's stack-name rule: a letter, then letters, digits and hyphens, 128 at most.
    stack: str = Field(_P.stack, pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
    hosts: list[str] = list(_P.hosts)
    identity_file: str | None = _P.identity_file
    known_hosts_file: str = _P.known_hosts_file
    host_key_policy: Literal["strict", "accept-new"] = _P.host_key_policy  # type: ignore[assignment]

    @field_validator("hosts")
    @classmethod
    def _hosts_are_user_at_host_port(cls, hosts: list[str]) -> list[str]:
        for entry in hosts:
            match = HOST_PATTERN.match(entry)
            if not match or (match["port"] and not 0 < int(match["port"]) < 65536):
                raise ValueError(f"{entry!r} is not of the form user@host:port")
        return hosts


class SyncSchema(_Strict):
    adir_local: str | None = SyncConfig.adir_local
    file_excludes: list[str] | None = None  # the record's default too (a tuple there)
    adir_server: str | None = SyncConfig.adir_server
    dir_storage: str | None = SyncConfig.dir_storage
    outputs: list[str] = list(SyncConfig.outputs)
    overwrite: bool = SyncConfig.overwrite

    @field_validator("outputs")
    @classmethod
    def _outputs_stay_inside_the_root(cls, globs: list[str]) -> list[str]:
        for glob in globs:
            why = outside_root(glob)
            if why:
                raise ValueError(f"the output glob {glob!r} {why}")
        return globs

    @field_validator("file_excludes")
    @classmethod
    def _excludes_are_gitignore_patterns(cls, patterns: list[str] | None) -> list[str] | None:
        """Compiled as the sync compiles them, so a pattern it cannot use fails here, not in `wb run`."""
        for pattern in patterns or []:
            if not pattern.strip():
                continue
            from pathspec import GitIgnoreSpec

            try:
                GitIgnoreSpec.from_lines([pattern])
            except ValueError:
                raise ValueError(f"{pattern!r} is not a valid gitignore-style pattern") from None
        return patterns


class SupervisionSchema(_Strict):
    """Each number must lie in its range of `lambdas/limits.py` (never nan or inf)."""

    lease_minutes: float = SupervisionConfig.lease_minutes
    idle_minutes: float = SupervisionConfig.idle_minutes
    max_hours: float = SupervisionConfig.max_hours
    max_cost_usd: float | None = SupervisionConfig.max_cost_usd
    max_output_mb: float = SupervisionConfig.max_output_mb

    @field_validator("lease_minutes", "idle_minutes", "max_hours", "max_cost_usd", "max_output_mb")
    @classmethod
    def _in_range(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None:
            return None
        return _SUPERVISION_RANGES[str(info.field_name)].parse(value)


class WbConfigSchema(_Strict):
    version: Literal[1] = WbConfig.version  # type: ignore[assignment]
    provisioner: ProvisionerSchema
    tag: str = WbConfig.tag
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
