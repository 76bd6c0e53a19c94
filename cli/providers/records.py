"""Typed records passed between commands and providers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# States of a machine one can log in to (aws rows: idle, busy; EC2 and ssh hosts: running).
UP_STATES = ("running", "idle", "busy")


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
    # From the user's ~/.ssh/config (ssh provider): the `Host` alias this target was named by, the alias's
    # IdentityFile, and its ProxyJump (hops as OpenSSH writes them: `[user@]host[:port]`, comma-separated).
    alias: str | None = None
    identity_file: str | None = None
    proxy_jump: str | None = None

    @property
    def ssh_name(self) -> str:
        """A name for this host in an OpenSSH config: its alias, else its address (and port when not 22)."""
        if self.alias:
            return self.alias
        return self.host if self.port == 22 else f"{self.host}-{self.port}"

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
    # A machine of a gang (`wb run --nodes N`): the gang's id, this machine's rank, and the gang's size.
    gang: str | None = None
    gang_rank: int | None = None
    gang_size: int | None = None


@dataclass(frozen=True)
class PushNote:
    """The agent's last push of a job's outputs to storage (aws: `push.json`, written by remote/daemon/s3push.py)."""

    at: float | None = None
    ok: bool | None = None
    failed: int = 0
    errors: tuple[str, ...] = ()
    where: str | None = None

    @classmethod
    def from_json(cls, raw: object) -> PushNote | None:
        if not isinstance(raw, Mapping):
            return None
        errors = tuple(str(error) for error in raw.get("errors") or ())
        return cls(
            at=_number(raw.get("at")),
            ok=raw["ok"] if isinstance(raw.get("ok"), bool) else None,
            failed=int(raw.get("failed") or len(errors)),
            errors=errors,
            where=str(raw["where"]) if raw.get("where") else None,
        )

    @property
    def failure(self) -> str | None:
        """`not uploaded to WHERE (N failed): first reason` when the push failed; None when it went through."""
        if self.ok is not False:
            return None
        first = self.errors[0] if self.errors else "failed"
        return f"not uploaded to {self.where or 'storage'} ({self.failed} failed): {first}"


@dataclass(frozen=True)
class GangStop:
    """Why a rank of a gang ended for another (remote/jobs/gang.py): the failing rank, its code (255: its
    machine or supervisor is gone) and the reason in words."""

    rank: int
    code: int
    reason: str = ""

    @classmethod
    def from_json(cls, raw: object) -> GangStop | None:
        if not isinstance(raw, Mapping):
            return None
        rank, code = _integer(raw.get("rank")), _integer(raw.get("code"))
        if rank is None or code is None:
            return None
        return cls(rank=rank, code=code, reason=str(raw.get("reason") or ""))


@dataclass(frozen=True)
class Job:
    """A job as its machine's agent reports it: one object of `agent list`, or `agent status ID`
    (remote/jobs/state.py, SUMMARY_FIELDS). Parsed here, once, from the agent's JSON (`from_summary`)."""

    id: str
    state: str  # running | exited | killed | stopped | lost
    command: tuple[str, ...] = ()
    cwd: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    stop_reason: str | None = None  # max-time | max-cost | budget | lease | output-cap | disk-full
    started_at: float | None = None
    ended_at: float | None = None
    pid: int | None = None
    push: PushNote | None = None  # aws: the agent's last push of the job's outputs
    gang: GangStop | None = None  # one rank of a gang, ended for another rank's failure

    @classmethod
    def from_summary(cls, raw: Mapping[str, object]) -> Job:
        """ValueError when it is not a job summary."""
        if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
            raise ValueError(f"not a job summary: {raw!r:.200}")
        command = raw.get("command")
        return cls(
            id=str(raw["id"]),
            state=str(raw.get("state") or "unknown"),
            command=tuple(str(word) for word in command) if isinstance(command, list) else (),
            cwd=str(raw["cwd"]) if raw.get("cwd") is not None else None,
            exit_code=_integer(raw.get("exit_code")),
            signal=_integer(raw.get("signal")),
            stop_reason=str(raw["stop_reason"]) if raw.get("stop_reason") else None,
            started_at=_number(raw.get("started_at")),
            ended_at=_number(raw.get("ended_at")),
            pid=_integer(raw.get("pid")),
            push=PushNote.from_json(raw.get("push")),
            gang=GangStop.from_json(raw.get("gang")),
        )

    @property
    def running(self) -> bool:
        return self.state == "running"


@dataclass(frozen=True)
class RecordedJob:
    """A job as the provider's control plane recorded it (aws: its row in the supervision table), found from
    any laptop: the owner's own, or the team's for `wb jobs --all`."""

    id: str
    instance_id: str
    owner: str
    command: tuple[str, ...]
    started_at: float
    state: str = "running"
    exit_code: int | None = None
    ended_at: float | None = None
    stop_reason: str | None = None
    outputs: tuple[str, ...] = ()
    upload_error: str | None = None  # why the agent's last upload of its outputs failed, as recorded


def jobs_from_json(text: bytes) -> list[Job]:
    """`agent list`'s output; ValueError when it is not a list of job summaries."""
    import json

    raw = json.loads(text or b"[]")
    if not isinstance(raw, list):
        raise ValueError(f"not a list of jobs: {raw!r:.200}")
    return [Job.from_summary(item) for item in raw]


def job_from_json(text: bytes) -> Job:
    """`agent status ID`'s output; ValueError when it is not a job summary."""
    import json

    return Job.from_summary(json.loads(text))


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _integer(value: object) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
