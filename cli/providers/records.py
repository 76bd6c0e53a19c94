"""Typed records passed between commands and providers."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class InstanceSpec:
    """What a job needs: the provider decides how to satisfy it."""

    instance_type: str | None = None
    spot: bool = False
    fresh: bool = False
    region: str | None = None
    max_time_s: float | None = None
    max_cost_usd: float | None = None


@dataclass(frozen=True)
class SshTarget:
    """How to reach a host over SSH."""

    host: str
    port: int = 22
    username: str = "ubuntu"
    # The expected host-key fingerprint ("SHA256:...") when the provider knows it (aws row); None means
    # known_hosts decides under the configured policy.
    host_key_fingerprint: str | None = None

    @property
    def label(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"


@dataclass(frozen=True)
class Instance:
    """One machine a job can run on."""

    id: str
    provider: str
    target: SshTarget
    state: str = "running"
    instance_type: str | None = None
    owner: str | None = None
    launched_at: float | None = None
    lease_until: float | None = None
    est_cost_usd: float | None = None
    reap_reason: str | None = None
    running_jobs: tuple[str, ...] = field(default_factory=tuple)
    cost_note: str | None = None  # e.g. the supervisor could not price the type and charges a fallback


@dataclass(frozen=True)
class Job:
    """A job as the agent reports it (`remote/jobs/state.py` writes the same fields)."""

    id: str
    instance_id: str
    command: tuple[str, ...]
    state: str  # running | exited | killed | stopped | lost
    exit_code: int | None = None
    signal: int | None = None
    stop_reason: str | None = None  # max-time | max-cost | budget | lease
    started_at: float | None = None
    ended_at: float | None = None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or 0.0) - self.started_at if self.ended_at else None
